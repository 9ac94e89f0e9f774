import { existsSync, statSync } from 'node:fs';
import { buildSync } from 'esbuild';
import { Duration, RemovalPolicy, Stack, Token, Validations } from 'aws-cdk-lib';
import type { ISecurityGroup, IVpc, SubnetSelection } from 'aws-cdk-lib/aws-ec2';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ILayerVersion } from 'aws-cdk-lib/aws-lambda';
import { Architecture, Code, Function as LambdaFunction, LayerVersion, Runtime } from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';

/**
 * The Powertools for AWS Lambda (TypeScript) public layer that the handlers run against: layer 50 is the
 * one published for 2.35.0. Keep it in step with the `@aws-lambda-powertools/*` devDependencies, which the
 * tests and benchmarks load, so that what is tested is what runs.
 */
export const POWERTOOLS_LAYER_VERSION = 50;
const POWERTOOLS_LAYER_ACCOUNT = '094274105915';

/**
 * CloudFormation's documented ceiling for `Code.ZipFile`. The real bound on this project is the
 * 51,200-byte template that `--template-file` accepts without an S3 bucket.
 */
export const MAX_INLINE_CODE_BYTES = 4 * 1024 * 1024;

const bundles = new Map<string, string>();

/**
 * Bundles a handler for inline deployment: CommonJS (CloudFormation writes inline code to `index.js`),
 * minified, with the runtime's AWS SDK v3 and the Powertools layer left external.
 * Cached per entry so that a test file that synthesizes many stacks pays for esbuild once.
 */
export function bundleInlineHandler(entry: string): string {
  const cached = bundles.get(entry);
  if (cached !== undefined) return cached;
  const result = buildSync({
    entryPoints: [resolveEntry(entry)],
    bundle: true,
    write: false,
    platform: 'node',
    target: 'node22',
    format: 'cjs',
    minify: true,
    legalComments: 'none',
    external: ['@aws-sdk/*', '@smithy/*', '@aws-lambda-powertools/*'],
    logLevel: 'silent',
  });
  const file = result.outputFiles[0];
  if (file === undefined) throw new Error(`esbuild produced no output for ${entry}`);
  const code = file.text;
  if (Buffer.byteLength(code) > MAX_INLINE_CODE_BYTES) {
    throw new Error(`Bundled ${entry} is ${Buffer.byteLength(code)} bytes; inline Lambda code must stay under ${MAX_INLINE_CODE_BYTES} bytes.`);
  }
  bundles.set(entry, code);
  return code;
}

/**
 * The handler source: `entry` itself if it names a file, else `entry.ts` (this checkout) or `entry.js`
 * (the compiled package, where the constructs run from `dist-lib/`).
 */
function resolveEntry(entry: string): string {
  const found = [entry, `${entry}.ts`, `${entry}.js`].find((candidate) => existsSync(candidate) && statSync(candidate).isFile());
  if (found === undefined) throw new Error(`No Lambda handler at ${entry} (looked for .ts and .js too).`);
  return found;
}

export interface InlineNodeFunctionProps {
  /** Absolute path of the handler module, with or without its `.ts`/`.js` extension; it must export `handler`. */
  readonly entry: string;
  /** Powertools service name, used in logs and as the metrics `service` dimension. */
  readonly serviceName: string;
  /** CloudWatch namespace for the function's EMF metrics. */
  readonly metricsNamespace: string;
  /**
   * Function description.
   * @default - none
   */
  readonly description?: string;
  /**
   * Extra environment variables, merged over the Powertools defaults.
   * @default - only the Powertools settings
   */
  readonly environment?: Readonly<Record<string, string>>;
  /**
   * Maximum run time.
   * @default Duration.seconds(30)
   */
  readonly timeout?: Duration;
  /**
   * Memory size.
   * @default 256
   */
  readonly memorySizeMiB?: number;
  /**
   * How long the function's log group keeps events.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: RetentionDays;
  /**
   * VPC to place the function in.
   * @default - not in a VPC
   */
  readonly vpc?: IVpc;
  /**
   * Subnets within `vpc`.
   * @default - the VPC's default selection
   */
  readonly vpcSubnets?: SubnetSelection;
  /**
   * Security groups, when the function runs in a VPC.
   * @default - CDK creates one
   */
  readonly securityGroups?: readonly ISecurityGroup[];
  /**
   * Whether a function in public subnets may be placed there. Lambda never gives it a public IP,
   * so callers that set this must also give it a private route (VPC endpoints) to what it calls.
   * @default false
   */
  readonly allowPublicSubnet?: boolean;
  /**
   * Whether to attach the Powertools layer and its settings.
   * @default true
   */
  readonly usePowertools?: boolean;
}

/**
 * A Lambda function whose TypeScript handler is bundled with esbuild at synth time and placed inline in
 * the template, so the stack deploys with plain `aws cloudformation deploy` and no asset bucket.
 * It holds the project's function defaults: Node.js 24 on x86_64, a log group with retention, a role that
 * may write to that log group only, and the pinned Powertools layer.
 */
export class InlineNodeFunction extends Construct {
  public readonly function: LambdaFunction;
  public readonly logGroup: LogGroup;
  public readonly role: Role;
  /** The bundled handler, as placed in the template. */
  public readonly code: string;

  constructor(scope: Construct, id: string, props: InlineNodeFunctionProps) {
    super(scope, id);
    const timeout = props.timeout ?? Duration.seconds(30);
    const memorySize = props.memorySizeMiB ?? 256;
    const usePowertools = props.usePowertools ?? true;
    if (!Token.isUnresolved(memorySize) && (memorySize < 128 || memorySize > 10240)) {
      throw new Error(`memorySizeMiB must be between 128 and 10240; got ${memorySize}.`);
    }

    this.logGroup = new LogGroup(this, 'LogGroup', {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.code = bundleInlineHandler(props.entry);

    // Our own role instead of AWSLambdaBasicExecutionRole, whose logs actions apply to every log group.
    this.role = new Role(this, 'Role', {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${this.node.path}`,
    });
    this.logGroup.grantWrite(this.role);
    if (props.vpc !== undefined) {
      this.role.addToPrincipalPolicy(
        new PolicyStatement({
          // What Lambda needs to attach the function to the VPC (AWSLambdaENIManagementAccess).
          actions: [
            'ec2:CreateNetworkInterface',
            'ec2:DescribeNetworkInterfaces',
            'ec2:DescribeSubnets',
            'ec2:DeleteNetworkInterface',
            'ec2:AssignPrivateIpAddresses',
            'ec2:UnassignPrivateIpAddresses',
          ],
          resources: ['*'],
        }),
      );
      Validations.of(this.role).acknowledge({
        id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
        reason:
          'Lambda manages the function\'s VPC network interfaces with these actions; their IDs are unknown in advance, ' +
          'and AWS documents them on Resource * (AWSLambdaENIManagementAccess).',
      });
    }

    this.function = new LambdaFunction(this, 'Function', {
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.X86_64,
      handler: 'index.handler',
      code: Code.fromInline(this.code),
      description: props.description,
      timeout,
      memorySize,
      logGroup: this.logGroup,
      role: this.role,
      layers: usePowertools ? [powertoolsLayer(this)] : undefined,
      environment: {
        ...(usePowertools && {
          POWERTOOLS_SERVICE_NAME: props.serviceName,
          POWERTOOLS_METRICS_NAMESPACE: props.metricsNamespace,
        }),
        ...props.environment,
      },
      vpc: props.vpc,
      vpcSubnets: props.vpcSubnets,
      securityGroups: props.securityGroups && [...props.securityGroups],
      allowPublicSubnet: props.allowPublicSubnet,
    });
  }
}

function powertoolsLayer(scope: Construct): ILayerVersion {
  const stack = Stack.of(scope);
  const id = 'PowertoolsLayer';
  const existing = stack.node.tryFindChild(id) as ILayerVersion | undefined;
  return (
    existing ??
    LayerVersion.fromLayerVersionArn(
      stack,
      id,
      `arn:${stack.partition}:lambda:${stack.region}:${POWERTOOLS_LAYER_ACCOUNT}:layer:AWSLambdaPowertoolsTypeScriptV2:${POWERTOOLS_LAYER_VERSION}`,
    )
  );
}

