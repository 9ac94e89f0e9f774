import { Aws, CfnDynamicReference, CfnDynamicReferenceService, CfnParameter, Duration, RemovalPolicy, Token, Validations } from 'aws-cdk-lib/core';
import type { ISecurityGroup, IVpc, SubnetSelection } from 'aws-cdk-lib/aws-ec2';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { ILayerVersion } from 'aws-cdk-lib/aws-lambda';
import { Architecture, Code, Function as LambdaFunction, LayerVersion, Runtime } from 'aws-cdk-lib/aws-lambda';
import type { Construct } from 'constructs';
import { bundleInlineHandler } from '../bundling';
import { requireWholeNumber } from '../validation';

/**
 * The Powertools for AWS Lambda (TypeScript) release the handlers run against. Keep it in step with the
 * `@aws-lambda-powertools/*` devDependencies, which the tests and benchmarks load, so that what is tested is
 * what runs.
 */
export const POWERTOOLS_VERSION = '2.35.0';
/**
 * The public SSM parameter in which Powertools publishes, in each Region it serves, the ARN of its layer for
 * one release. The layer's account and version differ by partition and Region (GovCloud and China use other
 * accounts; some Regions stop at older versions), so a hard-coded ARN fails to create the functions there.
 */
export const POWERTOOLS_LAYER_PARAMETER = `/aws/service/powertools/typescript/generic/all/${POWERTOOLS_VERSION}`;

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
  /**
   * The Powertools for AWS Lambda (TypeScript) layer, of release {@link POWERTOOLS_VERSION}. A stack whose
   * deployers must be able to choose it declares a parameter for it once, with {@link powertoolsLayerParameter},
   * and gives the result to each function.
   * @default - the layer Powertools publishes in the Region the stack deploys to, read at deploy time from
   * {@link POWERTOOLS_LAYER_PARAMETER} through a dynamic reference; the stack gets no parameter
   */
  readonly powertoolsLayer?: ILayerVersion;
}

/**
 * A Lambda function whose TypeScript handler is bundled with esbuild at synth time and placed inline in the
 * template, readable as it is in the Lambda console. It needs no asset, so it works with any synthesizer:
 * CDK's default for `cdk deploy`, or one that writes plain templates.
 * It holds the project's function defaults: Node.js 24 on x86_64, a log group with retention, a role that
 * may write to that log group only, and the Powertools layer of the pinned release. It is a `Function`: grant, wire and
 * add policies to it as to any other.
 */
export class InlineNodeFunction extends LambdaFunction {
  /** The execution role, created here rather than by `Function` so that it carries no managed policy. */
  public readonly executionRole: Role;
  /** The bundled handler: what the template carries, and Lambda runs as `index.js`. */
  public readonly bundle: string;

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
    });
    logGroup.grantWrite(role);
    const bundle = bundleInlineHandler(props.entry);

    super(scope, id, {
      runtime: Runtime.NODEJS_24_X,
      architecture: Architecture.X86_64,
      handler: 'index.handler',
      code: Code.fromInline(bundle),
      description: props.description,
      timeout: props.timeout ?? Duration.seconds(30),
      memorySize,
      logGroup,
      role,
      environment: {
        ...(usePowertools && {
          POWERTOOLS_SERVICE_NAME: props.serviceName,
          POWERTOOLS_METRICS_NAMESPACE: props.metricsNamespace,
          // The stack name as a dimension keeps two copies of a stack in one account and Region apart.
          METRICS_STACK: Aws.STACK_NAME,
        }),
        ...props.environment,
      },
      vpc: props.vpc,
      vpcSubnets: props.vpcSubnets,
      securityGroups: props.securityGroups && [...props.securityGroups],
      allowPublicSubnet: props.allowPublicSubnet,
    });
    this.executionRole = role;
    this.bundle = bundle;
    if (usePowertools) this.addLayers(props.powertoolsLayer ?? publishedPowertoolsLayer(this));
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

/** The layer Powertools publishes for {@link POWERTOOLS_VERSION}, resolved by CloudFormation in the Region it deploys to. */
function publishedPowertoolsLayer(scope: Construct): ILayerVersion {
  const arn = new CfnDynamicReference(CfnDynamicReferenceService.SSM, POWERTOOLS_LAYER_PARAMETER);
  return LayerVersion.fromLayerVersionArn(scope, 'PowertoolsLayer', Token.asString(arn));
}

/**
 * Declares, in `scope` (a stack), the `PowertoolsLayerParameter` parameter: the name of an SSM parameter that
 * holds the Powertools layer's ARN, {@link POWERTOOLS_LAYER_PARAMETER} by default, and returns that layer.
 * Where Powertools publishes no parameter (China, and Regions newer than the release), CloudFormation stops
 * before creating anything and names the missing one; deployers there publish the layer themselves, store
 * its ARN in an SSM parameter of their own, and pass that parameter's name.
 */
export function powertoolsLayerParameter(scope: Construct, id = 'PowertoolsLayerParameter'): ILayerVersion {
  const parameter = new CfnParameter(scope, id, {
    type: 'AWS::SSM::Parameter::Value<String>',
    default: POWERTOOLS_LAYER_PARAMETER,
    description: `SSM parameter: Powertools ${POWERTOOLS_VERSION} layer ARN`,
  });
  return LayerVersion.fromLayerVersionArn(scope, `${id}Layer`, parameter.valueAsString);
}
