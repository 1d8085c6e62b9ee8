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

/** `#/components/schemas/Name` for a component. */
export const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });

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
      if (!Number.isInteger(value)) return [`${at}: expected integer, got ${JSON.stringify(value)}`];
      break;
    case 'number':
      if (typeof value !== 'number') return [`${at}: expected number, got ${JSON.stringify(value)}`];
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
