/**
 * `npm run bench`: the figures users pay for. The drainer's run inside the two-minute Spot notice, alone and in
 * a simulated mass reclaim (a few minutes of real time: it waits for the notifier's schedule); the prober's
 * fan-out decides whether a minute's probe finishes in a few hundred milliseconds or in N × latency.
 * Benchmarks print figures and fail only when a stated goal is missed; they are not part of `npm test`.
 */
import { run as runDrainer } from './drainer';
import { run as runMassReclaim } from './mass-reclaim';
import { run as runProber } from './prober';

async function main(): Promise<void> {
  console.log(`Spotwise benchmarks on ${process.platform}/${process.arch}, Node ${process.version}\n`);
  const failures: string[] = [];
  for (const [name, bench] of [
    ['drainer', runDrainer],
    ['mass reclaim', runMassReclaim],
    ['prober', runProber],
  ] as const) {
    try {
      await bench();
    } catch (error) {
      failures.push(`${name}: ${error instanceof Error ? error.message : String(error)}`);
    }
    console.log('');
  }
  if (failures.length > 0) {
    console.error(`Goals missed:\n  ${failures.join('\n  ')}`);
    process.exitCode = 1;
  }
}

void main();
