import type { DrainedInstance, DrainedTarget, DrainReport } from './contract';

/** At most this many instance lines, however short, so that an email stays readable. */
export const MAX_LISTED_INSTANCES = 1_000;
/** SNS takes 256 KiB; a margin for the summary sentence and the "more" line. */
export const MAX_MESSAGE_BYTES = 250 * 1024;
/** SNS: "must be less than 100 characters". */
const MAX_SUBJECT_LENGTH = 99;

export interface Notification {
  readonly subject: string;
  readonly message: string;
}

/** Accepts a queue message body only if it is a drain report this version writes; anything else is dropped. */
export function parseReport(body: string): DrainReport | undefined {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const { version, instances } = value as { version?: unknown; instances?: unknown };
  if (version !== 1 || !Array.isArray(instances) || !instances.every(isDrainedInstance)) return undefined;
  return value as DrainReport;
}

function isDrainedInstance(value: unknown): value is DrainedInstance {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  // A warning says what EC2 will do; a recommendation has no action. No signal: a report from before
  // recommendations were drained.
  const signal = v.signal ?? 'interruption-warning';
  return (
    typeof v.instanceId === 'string' &&
    (signal === 'rebalance-recommendation' || (signal === 'interruption-warning' && typeof v.action === 'string')) &&
    typeof v.warnedAt === 'string' &&
    typeof v.drainedAt === 'string' &&
    Array.isArray(v.targets) &&
    v.targets.every((t: unknown) => typeof t === 'object' && t !== null && typeof (t as { targetGroup?: unknown }).targetGroup === 'string')
  );
}

/**
 * One instance per line, in signal order. The same instance reported twice (a retried batch that drained
 * a second target group) appears once, with every registration drained, and with its warning rather than a
 * recommendation, as the drainer chooses within a batch, else its first signal.
 */
export function mergeInstances(reports: readonly DrainReport[]): DrainedInstance[] {
  const merged = new Map<string, DrainedInstance>();
  for (const instance of reports.flatMap((report) => report.instances)) {
    const seen = merged.get(instance.instanceId);
    if (seen === undefined) {
      merged.set(instance.instanceId, instance);
      continue;
    }
    const rank = (i: DrainedInstance): number => Number(isRecommendation(i));
    const keep = (rank(instance) - rank(seen) || Date.parse(instance.warnedAt) - Date.parse(seen.warnedAt)) < 0 ? instance : seen;
    merged.set(instance.instanceId, {
      ...keep,
      drainedAt: earliest(seen.drainedAt, instance.drainedAt),
      targets: uniqueTargets([...seen.targets, ...instance.targets]),
    });
  }
  // ISO 8601 UTC times and instance IDs both sort as plain strings.
  const key = (i: DrainedInstance): string => `${i.warnedAt} ${i.instanceId}`;
  return [...merged.values()].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

/**
 * A message people can read in a reclaim: one clear sentence for a single instance; for many, a summary
 * sentence and one line per instance saying what EC2 sent and what was done.
 */
export function composeNotification(stackName: string, instances: readonly DrainedInstance[]): Notification {
  const [only] = instances;
  if (instances.length === 1 && only !== undefined) {
    const [title, what] = isRecommendation(only)
      ? ['Spot rebalance recommendation', `recommended at ${clock(only.warnedAt)} rebalancing Spot instance ${only.instanceId}, which is at elevated risk of interruption`]
      : ['Spot interruption', `warned at ${clock(only.warnedAt)} that it will ${actionOf(only)} Spot instance ${only.instanceId} two minutes later`];
    return {
      subject: subject(`${title}: ${only.instanceId} drained`, stackName),
      message: `Stack ${stackName}: EC2 ${what}, and the drainer took it out of the load balancer at ${clock(only.drainedAt)} (${targetList(only)}).\n`,
    };
  }
  const first = instances[0]?.warnedAt ?? '';
  const last = instances[instances.length - 1]?.warnedAt ?? '';
  const lines: string[] = [];
  let bytes = 0;
  for (const i of instances) {
    const signal = isRecommendation(i) ? 'rebalance recommendation' : `interruption warning (${actionOf(i)})`;
    const line = `- ${i.instanceId}: ${signal} at ${clock(i.warnedAt)}, out of the load balancer at ${clock(i.drainedAt)} (${targetList(i)})`;
    bytes += Buffer.byteLength(line) + 1;
    if (lines.length === MAX_LISTED_INSTANCES || bytes > MAX_MESSAGE_BYTES) break;
    lines.push(line);
  }
  if (instances.length > lines.length) {
    lines.push(`- and ${instances.length - lines.length} more: the drainer's log has every one.`);
  }
  const recommended = instances.filter(isRecommendation).length;
  const warned = instances.length - recommended;
  const what = [
    warned > 0 && `warned that it will reclaim ${warned} of our Spot instances, each two minutes after its warning`,
    recommended > 0 && `recommended rebalancing ${recommended} ${warned > 0 ? 'more' : 'of our Spot instances'} (at elevated risk of interruption)`,
  ];
  const title = [warned > 0 && 'interruptions', recommended > 0 && 'rebalance recommendations'];
  return {
    subject: subject(`Spot ${title.filter(Boolean).join(' and ')}: ${instances.length} instances drained`, stackName),
    message:
      `Stack ${stackName}: between ${clock(first)} and ${clock(last)} EC2 ${what.filter(Boolean).join(', and ')}, ` +
      `and the drainer took every one of them out of the load balancer.\n\n${lines.join('\n')}\n`,
  };
}

/** Reports written before recommendations were drained have no signal: they are all warnings. */
function isRecommendation(instance: DrainedInstance): boolean {
  return instance.signal === 'rebalance-recommendation';
}

function actionOf(instance: DrainedInstance): string {
  return instance.action ?? 'reclaim';
}

function subject(text: string, stackName: string): string {
  // SNS takes printable ASCII only, on one line.
  const full = `${text} (${stackName})`.replace(/[^\x20-\x7e]/g, '?');
  return full.slice(0, MAX_SUBJECT_LENGTH);
}

function uniqueTargets(targets: readonly DrainedTarget[]): DrainedTarget[] {
  const seen = new Set<string>();
  return targets.filter((t) => {
    const key = `${t.targetGroup}:${t.port ?? ''}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function targetList(instance: DrainedInstance): string {
  return instance.targets.map((t) => (t.port === undefined ? t.targetGroup : `${t.targetGroup} port ${t.port}`)).join(', ');
}

/** `2026-11-23 12:00:01 UTC`. */
function clock(iso: string): string {
  const time = Date.parse(iso);
  return Number.isNaN(time) ? iso : `${new Date(time).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

function earliest(a: string, b: string): string {
  return Date.parse(b) < Date.parse(a) ? b : a;
}
