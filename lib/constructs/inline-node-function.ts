import { Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import type { ISecurityGroup, IVpc, SubnetSelection } from 'aws-cdk-lib/aws-ec2';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ILayerVersion } from 'aws-cdk-lib/aws-lambda';
import { Architecture, Code, Function as LambdaFunction, LayerVersion, Runtime } from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import { bundleInlineHandler } from '../bundling';
import { requireWholeNumber } from '../validation';

/**
 * The Powertools for AWS Lambda (TypeScript) public layer that the handlers run against: layer 50 is the
 * one published for 2.35.0. Keep it in step with the `@aws-lambda-powertools/*` devDependencies, which the
 * tests and benchmarks load, so that what is tested is what runs.
 */
export const POWERTOOLS_LAYER_VERSION = 50;
const POWERTOOLS_LAYER_ACCOUNT = '094274105915';

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
 * may write to that log group only, and the pinned Powertools layer. It is a `Function`: grant, wire and
 * add policies to it as to any other.
 */
export class InlineNodeFunction extends LambdaFunction {
  /** The execution role, created here rather than by `Function` so that it carries no managed policy. */
  public readonly executionRole: Role;
  /** The bundled handler, as placed in the template. */
  public readonly inlineCode: string;

  constructor(scope: Construct, id: string, props: InlineNodeFunctionProps) {
    const memorySize = props.memorySizeMiB ?? 256;
    const usePowertools = props.usePowertools ?? true;
    requireWholeNumber(`${scope.node.path}/${id}`, 'memorySizeMiB', memorySize, 128, 10240, "Lambda's limits.");
    // Created beside the function, as Powertools' FunctionWithLogGroup does: a subclass cannot create children
    // before `super`, and the function needs both at construction.
    const logGroup = new LogGroup(scope, `${id}LogGroup`, {
      retention: props.logRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // Our own role instead of AWSLambdaBasicExecutionRole, whose logs actions apply to every log group.
    const role = new Role(scope, `${id}Role`, {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${scope.node.path}/${id}`,
    });
    logGroup.grantWrite(role);
    const code = bundleInlineHandler(props.entry);

    super(scope, id, {
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.X86_64,
      handler: 'index.handler',
      code: Code.fromInline(code),
      description: props.description,
      timeout: props.timeout ?? Duration.seconds(30),
      memorySize,
      logGroup,
      role,
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
    this.executionRole = role;
    this.inlineCode = code;
    if (usePowertools) this.addLayers(powertoolsLayer(this));
    if (props.vpc !== undefined) {
      role.addToPrincipalPolicy(
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
      Validations.of(role).acknowledge({
        id: 'AwsSolutions::AwsSolutions-IAM5[Resource::*]',
        reason:
          'Lambda manages the function\'s VPC network interfaces with these actions; their IDs are unknown in advance, ' +
          'and AWS documents them on Resource * (AWSLambdaENIManagementAccess).',
      });
    }
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

