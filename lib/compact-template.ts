/**
 * Rewrites a synthesized template into an equivalent, shorter one, so that more of the stack fits the 51,200
 * bytes that `aws cloudformation deploy --template-file` sends without an S3 bucket. Each rewrite is one that
 * CloudFormation treats as the same template: the same resources, properties and values, and nothing created
 * before what it waited for before.
 *
 * - `Fn::Join` of text, `Ref`s and `Fn::GetAtt`s becomes the `Fn::Sub` that renders the same string (cfn-lint's
 *   I1022 asks for this too). `${` in the joined text is escaped as `${!`.
 * - A `DependsOn` entry that the resource's properties already imply, through a `Ref`, `Fn::GetAtt` or
 *   `Fn::Sub` outside any `Fn::If`, is dropped (cfn-lint's W3005). A reference inside `Fn::If` is not counted:
 *   whether an untaken branch orders anything is not documented.
 * - An `AWS::IAM::Policy` that CDK attaches to one role of the same template becomes an inline policy of that
 *   role, unless that would make the role depend on something that depends on it. Whatever depended on the
 *   policy then depends on the role, which now exists only with its policy; the role now waits for what the
 *   policy names, as everything using the role already did. The inline policy has a name of
 *   its own (`Grants`): `AWS::IAM::Policy` is itself a role's inline policy, and when an update moves it, the
 *   old resource's deletion, which comes last, removes the policy of its name.
 *
 * The input is not modified.
 */
export function compactTemplate<T extends object>(template: T): T {
  const copy = structuredClone(template) as unknown as CfnTemplate;
  const resources = copy.Resources ?? {};
  for (const resource of Object.values(resources)) {
    if (resource.Properties !== undefined) resource.Properties = joinsToSubs(resource.Properties) as Record<string, unknown>;
  }
  for (const output of Object.values(copy.Outputs ?? {})) output.Value = joinsToSubs(output.Value);
  inlineRolePolicies(resources, copy.Outputs ?? {});
  for (const resource of Object.values(resources)) {
    dropImpliedDependencies(resource);
  }
  return copy as unknown as T;
}

interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
  DependsOn?: string | string[];
  Condition?: string;
  [key: string]: unknown;
}

interface CfnTemplate {
  Resources?: Record<string, CfnResource>;
  Outputs?: Record<string, { Value: unknown }>;
}

/** A stretch of literal text, or a name `Fn::Sub` writes as `${name}`. */
type Segment = { readonly text: string } | { readonly name: string };

/** One `Fn::Join` part as segments, or undefined for a part that `Fn::Sub` cannot name. */
function segmentsOf(part: unknown): Segment[] | undefined {
  if (typeof part === 'string') return [{ text: part }];
  if (!isSingleKey(part)) return undefined;
  const [key, value] = Object.entries(part)[0] as [string, unknown];
  if (key === 'Ref' && typeof value === 'string') return [{ name: value }];
  if (key === 'Fn::GetAtt') {
    if (Array.isArray(value) && value.length === 2 && value.every((v) => typeof v === 'string')) return [{ name: value.join('.') }];
    if (typeof value === 'string') return [{ name: value }];
  }
  // An inner Join already rewritten: read its text back into literal text and names.
  if (key === 'Fn::Sub' && typeof value === 'string') return subSegments(value);
  return undefined;
}

/** `Fn::Sub` text as literal text and names: `${!x}` is the literal `${x}`. */
function subSegments(text: string): Segment[] {
  const segments: Segment[] = [];
  let last = 0;
  for (const match of text.matchAll(/\$\{([^}]*)\}/g)) {
    segments.push({ text: text.slice(last, match.index) });
    const inner = match[1] as string;
    segments.push(inner.startsWith('!') ? { text: `\${${inner.slice(1)}}` } : { name: inner });
    last = match.index + match[0].length;
  }
  segments.push({ text: text.slice(last) });
  return segments;
}

/**
 * The `Fn::Sub` text of `segments`. Each run of literal text is escaped whole, after joining: a `$` ending one
 * part and a `{` starting the next make a `${` that escaping each part alone would miss.
 */
function subText(segments: readonly Segment[]): string {
  let out = '';
  let text = '';
  for (const segment of segments) {
    if ('text' in segment) {
      text += segment.text;
    } else {
      out += text.replace(/\$\{/g, '${!') + `\${${segment.name}}`;
      text = '';
    }
  }
  return out + text.replace(/\$\{/g, '${!');
}

function joinsToSubs(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(joinsToSubs);
  if (node === null || typeof node !== 'object') return node;
  const rewritten: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) rewritten[key] = joinsToSubs(value);
  const join = rewritten['Fn::Join'];
  if (Object.keys(rewritten).length !== 1 || !Array.isArray(join) || join.length !== 2) return rewritten;
  const [delimiter, parts] = join as [unknown, unknown];
  if (typeof delimiter !== 'string' || !Array.isArray(parts)) return rewritten;
  if (parts.every((p) => typeof p === 'string')) return parts.join(delimiter);
  const segments: Segment[] = [];
  for (const [i, part] of parts.entries()) {
    const own = segmentsOf(part);
    if (own === undefined) return rewritten;
    if (i > 0) segments.push({ text: delimiter });
    segments.push(...own);
  }
  return { 'Fn::Sub': subText(segments) };
}

function isSingleKey(node: unknown): node is Record<string, unknown> {
  return node !== null && typeof node === 'object' && !Array.isArray(node) && Object.keys(node).length === 1;
}

/** Logical ids that `node` names through `Ref`, `Fn::GetAtt` and `Fn::Sub`, leaving out whatever is inside `Fn::If` if asked. */
function referencedIds(node: unknown, options: { readonly insideIf: boolean }, into = new Set<string>()): Set<string> {
  if (Array.isArray(node)) {
    for (const item of node) referencedIds(item, options, into);
    return into;
  }
  if (node === null || typeof node !== 'object') return into;
  for (const [key, value] of Object.entries(node)) {
    if (key === 'Fn::If' && !options.insideIf) continue;
    if (key === 'Ref' && typeof value === 'string') into.add(value);
    else if (key === 'Fn::GetAtt') {
      const name: unknown = Array.isArray(value) ? (value as unknown[])[0] : typeof value === 'string' ? value.split('.')[0] : undefined;
      if (typeof name === 'string') into.add(name);
    } else if (key === 'Fn::Sub') {
      const [text, variables] = Array.isArray(value) ? (value as [unknown, unknown]) : [value, undefined];
      if (typeof text === 'string') {
        const local = new Set(variables !== null && typeof variables === 'object' ? Object.keys(variables) : []);
        for (const segment of subSegments(text)) {
          if (!('name' in segment)) continue;
          const name = segment.name.split('.')[0] as string;
          if (!local.has(name)) into.add(name);
        }
      }
      if (variables !== undefined) referencedIds(variables, options, into);
    } else referencedIds(value, options, into);
  }
  return into;
}

function dependsOnList(resource: CfnResource): string[] {
  const dependsOn = resource.DependsOn;
  return dependsOn === undefined ? [] : Array.isArray(dependsOn) ? [...dependsOn] : [dependsOn];
}

function setDependsOn(resource: CfnResource, ids: readonly string[]): void {
  const unique = [...new Set(ids)];
  if (unique.length === 0) delete resource.DependsOn;
  else resource.DependsOn = unique.length === 1 ? unique[0] : unique;
}

function dropImpliedDependencies(resource: CfnResource): void {
  if (resource.DependsOn === undefined) return;
  const implied = referencedIds(resource.Properties ?? {}, { insideIf: false });
  setDependsOn(resource, dependsOnList(resource).filter((id) => !implied.has(id)));
}

/** Every logical id `id` depends on, directly or not, through references anywhere and `DependsOn`. */
function dependenciesOf(resources: Record<string, CfnResource>, id: string): Set<string> {
  const seen = new Set<string>();
  const pending = [id];
  while (pending.length > 0) {
    const current = resources[pending.pop() as string];
    if (current === undefined) continue;
    const next = referencedIds(current, { insideIf: true });
    for (const dep of dependsOnList(current)) next.add(dep);
    for (const dep of next) {
      if (!seen.has(dep) && dep in resources) {
        seen.add(dep);
        pending.push(dep);
      }
    }
  }
  return seen;
}

function inlineRolePolicies(resources: Record<string, CfnResource>, outputs: Record<string, unknown>): void {
  for (const [policyId, policy] of Object.entries(resources)) {
    if (policy.Type !== 'AWS::IAM::Policy') continue;
    const props = policy.Properties ?? {};
    const roles = props.Roles;
    const allowed = new Set(['PolicyDocument', 'PolicyName', 'Roles']);
    if (Object.keys(props).some((key) => !allowed.has(key)) || Object.keys(policy).some((key) => key !== 'Type' && key !== 'Properties')) continue;
    if (!Array.isArray(roles) || roles.length !== 1 || !isSingleKey(roles[0])) continue;
    const roleId = (roles[0] as { Ref?: unknown }).Ref;
    if (typeof roleId !== 'string') continue;
    const role = resources[roleId];
    if (role?.Type !== 'AWS::IAM::Role' || role.Condition !== undefined || typeof props.PolicyName !== 'string') continue;
    // The role would gain the policy's references: none of them may need the role.
    const needed = referencedIds(props.PolicyDocument, { insideIf: true });
    if ([...needed].some((id) => id === roleId || dependenciesOf(resources, id).has(roleId))) continue;
    const named = (node: unknown): boolean => referencedIds(node, { insideIf: true }).has(policyId);
    if (Object.entries(resources).some(([id, other]) => id !== policyId && named(other)) || named(outputs)) continue;
    const roleProps = (role.Properties ??= {});
    const inline = (roleProps.Policies ??= []) as { PolicyName: string }[];
    if (inline.some((p) => p.PolicyName === props.PolicyName)) continue;
    const names = new Set(inline.map((p) => p.PolicyName));
    let name = 'Grants';
    for (let n = 2; names.has(name) || name === props.PolicyName; n++) name = `Grants${n}`;
    inline.push({ PolicyName: name, PolicyDocument: props.PolicyDocument } as { PolicyName: string });
    delete resources[policyId];
    for (const other of Object.values(resources)) {
      if (other.DependsOn === undefined) continue;
      setDependsOn(other, dependsOnList(other).map((id) => (id === policyId ? roleId : id)));
    }
  }
}
