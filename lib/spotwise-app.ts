import type { App, IStackSynthesizer } from 'aws-cdk-lib/core';
import { Validations } from 'aws-cdk-lib/core';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { FargateServiceStackProps } from './fargate-service-stack';
import { FARGATE_SERVICE_SETTINGS, FargateServiceStack } from './fargate-service-stack';
import type { PropsOf, SettingsSchema } from './settings';
import { readSettings, setting } from './settings';
import type { SpotAutoScalingWebAppStackProps } from './spot-auto-scaling-web-app-stack';
import { SPOT_AUTO_SCALING_WEB_APP_SETTINGS, SpotAutoScalingWebAppStack } from './spot-auto-scaling-web-app-stack';
import type { SpotFleetWebAppStackProps } from './spot-fleet-web-app-stack';
import { SPOT_FLEET_WEB_APP_SETTINGS, SpotFleetWebAppStack } from './spot-fleet-web-app-stack';
import { SettingError } from './validation';

/** The context key that holds the app's settings, in cdk.json or as `-c spotwise='{…}'`. */
export const SETTINGS_CONTEXT_KEY = 'spotwise';

/** Every stack's settings, by the key that names the stack in the context. */
const SPOTWISE_SETTINGS = {
  /**
   * Synth-time settings of the SpotAutoScalingWebApp stack.
   * @default - the stack's defaults
   */
  spotAutoScalingWebApp: setting.object<SpotAutoScalingWebAppStackProps>(SPOT_AUTO_SCALING_WEB_APP_SETTINGS),
  /**
   * Synth-time settings of the SpotFleetWebApp stack.
   * @default - the stack's defaults
   */
  spotFleetWebApp: setting.object<SpotFleetWebAppStackProps>(SPOT_FLEET_WEB_APP_SETTINGS),
  /**
   * Synth-time settings of the FargateService stack.
   * @default - the stack's defaults
   */
  fargateService: setting.object<FargateServiceStackProps>(FARGATE_SERVICE_SETTINGS),
} satisfies SettingsSchema;

/** Every stack's settings, as typed props: what `addSpotwiseStacks` takes. */
export type SpotwiseSettings = PropsOf<typeof SPOTWISE_SETTINGS>;

/**
 * The settings in the `spotwise` context value, as stack props. The context is JSON: an object in cdk.json,
 * or a JSON string from `-c spotwise='{…}'`. Every key is checked, and an error names it.
 */
export function settingsFromContext(context: unknown): SpotwiseSettings {
  let value = context;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value) as unknown;
    } catch {
      throw new SettingError(SETTINGS_CONTEXT_KEY, `is not JSON: ${String(context).slice(0, 80)}`);
    }
  }
  return readSettings(SPOTWISE_SETTINGS, value, SETTINGS_CONTEXT_KEY);
}

/**
 * Adds the Spotwise stacks to `app`, with `settings` as their props. The stacks have no environment, so
 * synth needs no credentials and makes no lookups, and they deploy with whatever synthesizer the app gives
 * them. cdk-nag's AwsSolutions pack checks everything at synth.
 */
export function addSpotwiseStacks(app: App, settings: SpotwiseSettings = {}, options: SpotwiseStacksOptions = {}): SpotwiseStacks {
  const spotAutoScalingWebApp = new SpotAutoScalingWebAppStack(app, 'SpotAutoScalingWebApp', {
    description: 'Spotwise: a web app on an EC2 Auto Scaling group of Spot instances behind an ALB, drained on interruption warnings',
    synthesizer: options.synthesizer?.(),
    ...settings.spotAutoScalingWebApp,
  });
  const spotFleetWebApp = new SpotFleetWebAppStack(app, 'SpotFleetWebApp', {
    description: 'Spotwise: a web app on an EC2 Spot Fleet behind an ALB, drained on Spot signals',
    synthesizer: options.synthesizer?.(),
    ...settings.spotFleetWebApp,
  });
  const fargateService = new FargateServiceStack(app, 'FargateService', {
    description: 'Spotwise: nginx on ECS Fargate and Fargate Spot, in Cloud Map, probed by a scheduled Lambda',
    synthesizer: options.synthesizer?.(),
    ...settings.fargateService,
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { spotAutoScalingWebApp, spotFleetWebApp, fargateService };
}

export interface SpotwiseStacksOptions {
  /**
   * Makes each stack's synthesizer, such as `() => new PlainCloudFormationSynthesizer()` for templates that
   * deploy without bootstrap.
   * @default - the app's default synthesizer
   */
  readonly synthesizer?: () => IStackSynthesizer;
}

export interface SpotwiseStacks {
  /** The recommended starting point: the web app on an EC2 Auto Scaling group. */
  readonly spotAutoScalingWebApp: SpotAutoScalingWebAppStack;
  /** The design of AWS's Spot workshop, on the legacy Spot Fleet API. */
  readonly spotFleetWebApp: SpotFleetWebAppStack;
  readonly fargateService: FargateServiceStack;
}
