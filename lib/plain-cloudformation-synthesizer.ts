import type {
  IBoundStackSynthesizer,
  IReusableStackSynthesizer,
  Stack,
  DockerImageAssetLocation,
  DockerImageAssetSource,
  FileAssetLocation,
  FileAssetSource,
  ISynthesisSession,
} from 'aws-cdk-lib/core';
import { StackSynthesizer } from 'aws-cdk-lib/core';

/**
 * Synthesizes a stack as a plain template, for `aws cloudformation deploy --s3-bucket` or the console's
 * upload in an account that was never bootstrapped: no bootstrap version parameter or rule, no bootstrap
 * roles, no staged template, and a synth-time error for anything that would need an asset upload, such as a
 * Lambda bundled to a zip or a CDK-provided custom resource. `npm run synth` uses it; `cdk deploy` uses CDK's
 * default synthesizer.
 *
 * `BootstraplessSynthesizer` refuses assets too, but still names the bootstrap deploy and execution roles.
 */
export class PlainCloudFormationSynthesizer extends StackSynthesizer implements IReusableStackSynthesizer {
  /** A fresh copy per stack, so that one instance can be the App's `defaultStackSynthesizer`. */
  public reusableBind(stack: Stack): IBoundStackSynthesizer {
    const copy = new PlainCloudFormationSynthesizer();
    copy.bind(stack);
    return copy;
  }

  public addFileAsset(asset: FileAssetSource): FileAssetLocation {
    throw new Error(
      `${this.boundStack.stackName} must deploy as plain CloudFormation, without an asset bucket, but something added ` +
        `the file asset ${asset.fileName ?? asset.sourceHash}. Inline the code (InlineNodeFunction) or drop the construct that needs it.`,
    );
  }

  public addDockerImageAsset(asset: DockerImageAssetSource): DockerImageAssetLocation {
    throw new Error(
      `${this.boundStack.stackName} must deploy as plain CloudFormation, without an image repository, but something ` +
        `added the Docker image asset ${asset.directoryName ?? asset.sourceHash}. Use an image from a registry instead.`,
    );
  }

  public synthesize(session: ISynthesisSession): void {
    this.synthesizeTemplate(session);
    this.emitArtifact(session);
  }
}
