#!/usr/bin/env node
import { App } from 'aws-cdk-lib';
import { PlainCloudFormationSynthesizer } from '../lib/plain-cloudformation-synthesizer';
import { SETTINGS_CONTEXT_KEY, settingsFromContext } from '../lib/settings';
import { addSpotwiseStacks } from '../lib/spotwise-app';

// Plain CloudFormation for every stack: no bootstrap, and synth fails if anything adds an asset.
const app = new App({ defaultStackSynthesizer: new PlainCloudFormationSynthesizer() });
// Settings come from the `spotwise` context value (cdk.json, or -c spotwise='{…}'); see docs/settings.md.
addSpotwiseStacks(app, settingsFromContext(app.node.tryGetContext(SETTINGS_CONTEXT_KEY)));
app.synth();
