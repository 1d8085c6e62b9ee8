// The JSON Schema subset the control API's route table is written in (the OpenAPI 3.0 dialect:
// `nullable`, `$ref` to components), and a checker of a value against it, used by the contract test
// (every route's real replies match what the table declares).

export interface Schema {
  readonly type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  readonly properties?: Readonly<Record<string, Schema>>;
  readonly required?: readonly string[];
  readonly items?: Schema;
  readonly enum?: readonly string[];
  readonly nullable?: boolean;
  readonly $ref?: string;
  readonly allOf?: readonly Schema[];
  readonly description?: string;
  readonly format?: string;
  readonly pattern?: string;
  readonly minimum?: number;
  readonly maximum?: number;
}

/** `#/components/schemas/Name` for a component (the name kept in the type, for `FromSchema`). */
export const ref = <N extends string>(name: N) => ({ $ref: `#/components/schemas/${name}` }) as const;

/**
 * The TypeScript type of the JSON a schema describes, `C` its components: how the client's types
 * and the control layer's reply types are derived from the route table, so that the one source
 * (routes.ts) says what the server checks, the OpenAPI document shows and the compiler enforces.
 * A property not `required` is optional; `nullable` adds null; an object without properties is a
 * record; `allOf` is the intersection.
 */
export type FromSchema<S, C> = S extends { readonly $ref: `#/components/schemas/${infer N}` }
  ? N extends keyof C
    ? FromSchema<C[N], C>
    : unknown
  : S extends { readonly allOf: readonly [infer A, ...infer Rest] }
    ? Simplify<FromSchema<A, C> & FromAll<Rest, C>>
    : (S extends { readonly nullable: true } ? null : never) | Base<S, C>;

type FromAll<L, C> = L extends readonly [infer A, ...infer Rest]
  ? FromSchema<A, C> & FromAll<Rest, C>
  : unknown;

type Base<S, C> = S extends { readonly enum: readonly (infer E)[] }
  ? E
  : S extends { readonly type: 'string' }
    ? string
    : S extends { readonly type: 'integer' | 'number' }
      ? number
      : S extends { readonly type: 'boolean' }
        ? boolean
        : S extends { readonly type: 'array'; readonly items: infer I }
          ? FromSchema<I, C>[]
          : S extends { readonly type: 'array' }
            ? unknown[]
            : S extends { readonly type: 'object'; readonly properties: infer P }
              ? Props<P, S extends { readonly required: readonly (infer R)[] } ? R : never, C>
              : S extends { readonly type: 'object' }
                ? Record<string, unknown>
                : unknown;

type Props<P, R, C> = Simplify<
  { -readonly [K in keyof P & R]-?: FromSchema<P[K], C> } & {
    -readonly [K in Exclude<keyof P, R>]?: FromSchema<P[K], C> | undefined;
  }
>;

type Simplify<T> = { [K in keyof T]: T[K] } & {};

/**
 * Where `value` does not match `schema`: one line per mismatch (`$.files[0].length: expected integer`),
 * none when it matches. Properties the schema does not name are allowed.
 */
export function schemaErrors(
  schema: Schema,
  value: unknown,
  components: Readonly<Record<string, Schema>>,
  at = '$',
): string[] {
  if (schema.$ref !== undefined) {
    const name = schema.$ref.replace('#/components/schemas/', '');
    const target = components[name];
    return target ? schemaErrors(target, value, components, at) : [`${at}: unknown schema ${schema.$ref}`];
  }
  if (schema.allOf) return schema.allOf.flatMap((s) => schemaErrors(s, value, components, at));
  if (value === null) return schema.nullable || schema.type === undefined ? [] : [`${at}: null`];
  const out: string[] = [];
  switch (schema.type) {
    case 'object':
      if (typeof value !== 'object' || Array.isArray(value)) return [`${at}: expected object`];
      break;
    case 'array':
      if (!Array.isArray(value)) return [`${at}: expected array`];
      if (schema.items) {
        const items = schema.items;
        for (const [i, v] of value.entries()) out.push(...schemaErrors(items, v, components, `${at}[${i}]`));
      }
      return out;
    case 'integer':
    case 'number':
      if (
        schema.type === 'integer'
          ? !Number.isSafeInteger(value)
          : typeof value !== 'number' || !Number.isFinite(value)
      )
        return [`${at}: expected ${schema.type}, got ${JSON.stringify(value)}`];
      if (schema.minimum !== undefined && (value as number) < schema.minimum)
        return [`${at}: ${value} is below ${schema.minimum}`];
      if (schema.maximum !== undefined && (value as number) > schema.maximum)
        return [`${at}: ${value} is above ${schema.maximum}`];
      break;
    case 'string':
      if (typeof value !== 'string') return [`${at}: expected string, got ${JSON.stringify(value)}`];
      if (schema.enum && !schema.enum.includes(value))
        return [`${at}: "${value}" is not one of ${schema.enum.join('|')}`];
      if (schema.pattern && !new RegExp(schema.pattern).test(value))
        return [`${at}: does not match ${schema.pattern}`];
      break;
    case 'boolean':
      if (typeof value !== 'boolean') return [`${at}: expected boolean`];
      break;
    default:
      break;
  }
  if (typeof value === 'object' && !Array.isArray(value)) {
    const o = value as Record<string, unknown>;
    for (const k of schema.required ?? []) if (!(k in o)) out.push(`${at}.${k}: missing`);
    for (const [k, s] of Object.entries(schema.properties ?? {})) {
      if (k in o && o[k] !== undefined) out.push(...schemaErrors(s, o[k], components, `${at}.${k}`));
    }
  }
  return out;
}
