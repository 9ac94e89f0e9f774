import type { App } from 'aws-cdk-lib';
import { Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { FargateServiceStack } from './fargate-service-stack';
import type { SpotwiseSettings } from './settings';
import { SpotFleetWebAppStack } from './spot-fleet-web-app-stack';

export interface SpotwiseStacks {
  readonly spotFleetWebApp: SpotFleetWebAppStack;
  readonly fargateService: FargateServiceStack;
}

/**
 * Adds both systems to `app`, with `settings` as their props. Each is a self-contained stack for plain
 * `aws cloudformation deploy` and has no environment, so synth needs no credentials and makes no lookups.
 * cdk-nag's AwsSolutions pack checks everything at synth.
 */
export function addSpotwiseStacks(app: App, settings: SpotwiseSettings = {}): SpotwiseStacks {
  const spotFleetWebApp = new SpotFleetWebAppStack(app, 'SpotFleetWebApp', {
    description: 'Spotwise: a web app on an EC2 Spot Fleet behind an ALB, drained on Spot signals',
    ...settings.spotFleetWebApp,
  });
  const fargateService = new FargateServiceStack(app, 'FargateService', {
    description: 'Spotwise: nginx on ECS Fargate and Fargate Spot, in Cloud Map, probed by a scheduled Lambda',
    ...settings.fargateService,
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { spotFleetWebApp, fargateService };
}
