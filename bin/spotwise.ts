#!/usr/bin/env node
import { App, Errors } from 'aws-cdk-lib/core';
import { PlainCloudFormationSynthesizer } from '../lib/plain-cloudformation-synthesizer';
import { addSpotwiseStacks, SETTINGS_CONTEXT_KEY, settingsFromContext } from '../lib/spotwise-app';
import { SettingError } from '../lib/validation';

/** Context flag that `npm run synth` sets: plain templates for `aws cloudformation deploy`, with no bootstrap. */
const PLAIN_TEMPLATES_CONTEXT_KEY = 'spotwise:plainTemplates';

try {
  const app = new App();
  // CDK's default synthesizer, for `cdk deploy` in a bootstrapped account, unless the synth script asks for
  // templates that deploy without bootstrap.
  const plain = String(app.node.tryGetContext(PLAIN_TEMPLATES_CONTEXT_KEY)) === 'true';
  // Settings come from the `spotwise` context value (cdk.json, or -c spotwise='{…}'); see docs/settings.md.
  addSpotwiseStacks(app, settingsFromContext(app.node.tryGetContext(SETTINGS_CONTEXT_KEY)), {
    synthesizer: plain ? () => new PlainCloudFormationSynthesizer() : undefined,
  });
  app.synth();
} catch (error) {
  // A bad setting, or a construct refusing a value, is the user's to fix: say what, in a line, without a trace.
  if (error instanceof SettingError || Errors.isValidationError(error)) {
    process.stderr.write(`Spotwise cannot synthesize: ${error.message}\n`);
    process.exit(1);
  }
  throw error;
}
