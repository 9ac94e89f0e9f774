/**
 * What a template means to CloudFormation, in a form two templates can be compared by: every string that
 * `Fn::Join` or `Fn::Sub` builds becomes one text with its references marked, each role carries the set of
 * its policy documents however they are attached, and each resource the set of everything it waits for.
 * Written independently of lib/compact-template.ts, to check it.
 */

type Json = unknown;

const REF = (name: string): string => `\u0001Ref:${name}\u0002`;
const ATT = (name: string): string => `\u0001GetAtt:${name}\u0002`;

function isObject(node: Json): node is Record<string, Json> {
  return node !== null && typeof node === 'object' && !Array.isArray(node);
}

/** A string part: text, a marked reference, or undefined when it is another intrinsic. */
function asText(node: Json): string | undefined {
  if (typeof node === 'string') return node;
  if (!isObject(node) || Object.keys(node).length !== 1) return undefined;
  const [key, value] = Object.entries(node)[0] as [string, Json];
  if (key === 'Ref' && typeof value === 'string') return REF(value);
  if (key === 'Fn::GetAtt') {
    if (Array.isArray(value)) return ATT(value.join('.'));
    if (typeof value === 'string') return ATT(value);
  }
  if (key === '\u0001text' && typeof value === 'string') return value;
  return undefined;
}

/** Renders `Fn::Sub` text: `${Name}` becomes a marked reference, `${!x}` the literal `${x}`. */
function renderSub(text: string, variables: Record<string, Json>): Json {
  const parts: Json[] = [];
  let last = 0;
  for (const match of text.matchAll(/\$\{([^}]*)\}/g)) {
    parts.push(text.slice(last, match.index));
    const inner = match[1] as string;
    if (inner.startsWith('!')) parts.push(`\${${inner.slice(1)}}`);
    else if (inner in variables) parts.push(variables[inner]);
    else if (inner.includes('.') && !inner.startsWith('AWS::')) parts.push({ 'Fn::GetAtt': inner });
    else parts.push({ Ref: inner });
    last = (match.index ?? 0) + match[0].length;
  }
  parts.push(text.slice(last));
  return concat(parts);
}

function concat(parts: readonly Json[]): Json {
  const texts = parts.map(asText);
  if (texts.every((t) => t !== undefined)) {
    const text = texts.join('');
    return text.includes('\u0001') ? { '\u0001text': text } : text;
  }
  return { 'Fn::Join': ['', parts] };
}

/** Every intrinsic that builds a string rendered as one marked text. */
export function canonical(node: Json): Json {
  if (Array.isArray(node)) return node.map(canonical);
  if (!isObject(node)) return node;
  const out: Record<string, Json> = {};
  for (const [key, value] of Object.entries(node)) out[key] = canonical(value);
  if (Object.keys(out).length !== 1) return out;
  const join = out['Fn::Join'];
  if (Array.isArray(join) && typeof join[0] === 'string' && Array.isArray(join[1])) {
    const parts: Json[] = [];
    (join[1] as Json[]).forEach((part, i) => {
      if (i > 0) parts.push(join[0]);
      parts.push(part);
    });
    return concat(parts);
  }
  const sub = out['Fn::Sub'];
  if (typeof sub === 'string') return renderSub(sub, {});
  if (Array.isArray(sub) && typeof sub[0] === 'string' && isObject(sub[1])) return renderSub(sub[0], sub[1]);
  if (typeof out.Ref === 'string' || 'Fn::GetAtt' in out) return { '\u0001text': asText(out) };
  return out;
}

function references(node: Json, into: Set<string>, skipIf: boolean): Set<string> {
  if (Array.isArray(node)) node.forEach((n) => references(n, into, skipIf));
  else if (typeof node === 'string') {
    // eslint-disable-next-line no-control-regex -- the markers are control characters so that no template text can contain them
    for (const match of node.matchAll(/\u0001(?:Ref|GetAtt):([^\u0002]*)\u0002/g)) into.add((match[1] as string).split('.')[0] as string);
  } else if (isObject(node)) {
    for (const [key, value] of Object.entries(node)) if (!(skipIf && key === 'Fn::If')) references(value, into, skipIf);
  }
  return into;
}

export interface Semantics {
  /** Resources by logical id, rendered, without `DependsOn`, roles without their inline policies, and no `AWS::IAM::Policy`. */
  readonly resources: Record<string, Json>;
  /** Per role: its policy documents, rendered and sorted, however attached. */
  readonly rolePolicies: Record<string, string[]>;
  /** Per resource: everything it waits for, directly or not, through `DependsOn` and references outside `Fn::If`. */
  readonly waitsFor: Record<string, string[]>;
  readonly rest: Json;
}

export function semantics(template: Record<string, Json>): Semantics {
  const rendered = canonical(template) as Record<string, Json>;
  const all = (rendered.Resources ?? {}) as Record<string, Record<string, Json>>;
  const policyRole = new Map<string, string>();
  const rolePolicies: Record<string, string[]> = {};
  const edges = new Map<string, Set<string>>();
  for (const [id, resource] of Object.entries(all)) {
    const deps = references(resource.Properties ?? {}, new Set(), true);
    const dependsOn = resource.DependsOn;
    for (const d of Array.isArray(dependsOn) ? dependsOn : dependsOn === undefined ? [] : [dependsOn]) deps.add(d as string);
    edges.set(id, deps);
    if (resource.Type === 'AWS::IAM::Policy') {
      const roles = (resource.Properties as Record<string, Json>).Roles as Json[];
      const role = references(roles, new Set(), false);
      if (role.size !== 1) throw new Error(`${id}: the checker handles policies of one role only`);
      policyRole.set(id, [...role][0] as string);
    }
  }
  // A policy's place in the order is its role's: the role exists, for whatever needs it, only once policied.
  const owner = (id: string): string => policyRole.get(id) ?? id;
  const merged = new Map<string, Set<string>>();
  for (const [id, deps] of edges) {
    const into = merged.get(owner(id)) ?? new Set<string>();
    for (const d of deps) if (owner(d) !== owner(id)) into.add(owner(d));
    merged.set(owner(id), into);
  }
  const waitsFor: Record<string, string[]> = {};
  for (const id of merged.keys()) {
    const seen = new Set<string>();
    const pending = [...(merged.get(id) ?? [])];
    while (pending.length > 0) {
      const next = pending.pop() as string;
      if (seen.has(next)) continue;
      seen.add(next);
      pending.push(...(merged.get(next) ?? []));
    }
    waitsFor[id] = [...seen].sort();
  }
  const resources: Record<string, Json> = {};
  for (const [id, resource] of Object.entries(all)) {
    if (resource.Type === 'AWS::IAM::Policy') {
      const props = resource.Properties as Record<string, Json>;
      (rolePolicies[owner(id)] ??= []).push(JSON.stringify(props.PolicyDocument));
      continue;
    }
    const copy: Record<string, Json> = { ...resource };
    delete copy.DependsOn;
    if (resource.Type === 'AWS::IAM::Role' && isObject(resource.Properties)) {
      const props: Record<string, Json> = { ...resource.Properties };
      for (const inline of (props.Policies ?? []) as Record<string, Json>[]) (rolePolicies[id] ??= []).push(JSON.stringify(inline.PolicyDocument));
      delete props.Policies;
      copy.Properties = props;
    }
    resources[id] = copy;
  }
  for (const docs of Object.values(rolePolicies)) docs.sort();
  const rest = { ...rendered };
  delete rest.Resources;
  return { resources, rolePolicies, waitsFor, rest };
}

/** A dependency cycle among the resources, as logical ids, or undefined if there is none: CloudFormation refuses a cycle. */
export function cycleIn(template: Record<string, Json>): string[] | undefined {
  const resources = canonical(template.Resources ?? {}) as Record<string, Record<string, Json>>;
  const edges = new Map<string, string[]>();
  for (const [id, resource] of Object.entries(resources)) {
    const deps = references(resource, new Set(), false);
    const dependsOn = resource.DependsOn;
    for (const d of Array.isArray(dependsOn) ? dependsOn : dependsOn === undefined ? [] : [dependsOn]) deps.add(d as string);
    edges.set(id, [...deps].filter((d) => d in resources));
  }
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (id: string): string[] | undefined => {
    if (state.get(id) === 'done') return undefined;
    if (state.get(id) === 'open') return [...path.slice(path.indexOf(id)), id];
    state.set(id, 'open');
    path.push(id);
    for (const next of edges.get(id) ?? []) {
      const found = visit(next);
      if (found !== undefined) return found;
    }
    path.pop();
    state.set(id, 'done');
    return undefined;
  };
  for (const id of edges.keys()) {
    const found = visit(id);
    if (found !== undefined) return found;
  }
  return undefined;
}
