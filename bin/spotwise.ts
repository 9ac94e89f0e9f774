#!/usr/bin/env node
import { App } from 'aws-cdk-lib';
import { addSpotwiseStacks } from '../lib/spotwise-app';

const app = new App();
addSpotwiseStacks(app);
app.synth();
