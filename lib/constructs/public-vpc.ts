import { RemovalPolicy } from 'aws-cdk-lib/core';
import { FlowLogDestination, FlowLogTrafficType, IpAddresses, SubnetType, Vpc } from 'aws-cdk-lib/aws-ec2';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';

export interface PublicVpcProps {
  /**
   * IPv4 CIDR of the VPC.
   * @default '10.0.0.0/16'
   */
  readonly cidr?: string;
  /**
   * Which traffic the VPC flow log records.
   * @default FlowLogTrafficType.REJECT
   */
  readonly flowLogTrafficType?: FlowLogTrafficType;
  /**
   * How long flow log events are kept.
   * @default RetentionDays.ONE_MONTH
   */
  readonly flowLogRetention?: RetentionDays;
}

/**
 * A VPC with one public subnet in each of two Availability Zones, an internet gateway and no NAT gateway:
 * an ALB needs two AZs, and public subnets let instances and tasks reach package mirrors and image
 * registries without paying for NAT.
 */
export class PublicVpc extends Construct {
  public readonly vpc: Vpc;
  public readonly flowLogGroup: LogGroup;

  constructor(scope: Construct, id: string, props: PublicVpcProps = {}) {
    super(scope, id);
    this.flowLogGroup = new LogGroup(this, 'FlowLogs', {
      retention: props.flowLogRetention ?? RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.vpc = new Vpc(this, 'Vpc', {
      ipAddresses: IpAddresses.cidr(props.cidr ?? '10.0.0.0/16'),
      // Fixed AZ count keeps the stack environment-agnostic: Fn::GetAZs at deploy time, no lookup at synth.
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: 'Public', subnetType: SubnetType.PUBLIC, cidrMask: 24 }],
      // The restricting custom resource is an asset-backed Lambda, which plain CloudFormation cannot deploy.
      restrictDefaultSecurityGroup: false,
      flowLogs: {
        FlowLog: {
          destination: FlowLogDestination.toCloudWatchLogs(this.flowLogGroup),
          trafficType: props.flowLogTrafficType ?? FlowLogTrafficType.REJECT,
        },
      },
    });
  }
}
