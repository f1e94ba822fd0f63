import Ajv from 'ajv-draft-04';
import { describe, expect, it } from 'vitest';
import { SchemaEvaluator, type JsonSchema } from '../../../src/cloudinit/jsonschema.js';

/** Draft-04 keyword cases: our evaluator and Ajv must agree on each value. */
const CASES: [string, Record<string, unknown>, unknown[]][] = [
  ['type list', { type: ['string', 'null'] }, ['a', null, 1, true, [], {}]],
  ['integer vs number', { type: 'integer' }, [1, 1.5, -3, '1']],
  ['number', { type: 'number' }, [1, 1.5, '1', null]],
  ['enum with structures', { enum: [1, 'a', [1, 2], { k: true }] }, [1, 'a', [1, 2], [2, 1], { k: true }, { k: false }, '1']],
  ['minimum / exclusiveMinimum', { minimum: 2, exclusiveMinimum: true }, [1, 2, 2.5, 'x']],
  ['maximum', { maximum: 5 }, [5, 6, 'x']],
  ['string lengths and pattern', { type: 'string', minLength: 2, maxLength: 3, pattern: '^a' }, ['a', 'ab', 'abcd', 'ba', 'abc']],
  ['array sizes and uniqueness', { type: 'array', minItems: 1, maxItems: 3, uniqueItems: true }, [[], [1], [1, 1], [1, 2, 3, 4], [{ a: 1 }, { a: 1 }], [{ a: 1 }, { a: 2 }]]],
  ['tuple items, additionalItems false', { items: [{ type: 'string' }, { type: 'integer' }], additionalItems: false }, [['a', 1], ['a'], ['a', 1, 2], [1, 'a']]],
  ['tuple items, additionalItems schema', { items: [{ type: 'string' }], additionalItems: { type: 'boolean' } }, [['a', true, false], ['a', 1]]],
  ['required, additionalProperties false', { properties: { a: {}, b: {} }, required: ['a'], additionalProperties: false }, [{ a: 1 }, { b: 1 }, { a: 1, c: 1 }, 'x']],
  ['patternProperties with additionalProperties schema', { patternProperties: { '^x-': { type: 'string' } }, additionalProperties: { type: 'integer' } }, [{ 'x-a': 's', b: 1 }, { 'x-a': 1 }, { b: 's' }]],
  ['min/maxProperties', { minProperties: 1, maxProperties: 2 }, [{}, { a: 1 }, { a: 1, b: 2, c: 3 }]],
  ['dependencies', { dependencies: { a: ['b'], c: { required: ['d'] } } }, [{ a: 1 }, { a: 1, b: 1 }, { c: 1 }, { c: 1, d: 1 }]],
  ['oneOf exactly one', { oneOf: [{ type: 'integer' }, { minimum: 2 }] }, [1, 3, 1.5, 'x']],
  ['anyOf', { anyOf: [{ type: 'string' }, { type: 'integer', minimum: 0 }] }, ['a', 1, -1, null]],
  ['allOf', { allOf: [{ minimum: 1 }, { maximum: 3 }] }, [0, 2, 4]],
  ['not required', { not: { required: ['a', 'b'] } }, [{ a: 1 }, { a: 1, b: 2 }]],
  ['multipleOf', { multipleOf: 3 }, [9, 10, 'x']],
  ['$ref with siblings', { $defs: { s: { type: 'string' } }, $ref: '#/$defs/s', minLength: 2 } as Record<string, unknown>, ['ab', 'a', 1]],
  ['date format', { type: 'string', format: 'date' }, ['2024-02-29', '2023-02-29', '2024-13-01', 'x']],
];

function ajvFor(schema: Record<string, unknown>) {
  const ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false });
  ajv.addFormat('date', (s: string) => {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
    if (!m) return false;
    const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
    return d.getUTCMonth() === Number(m[2]) - 1 && d.getUTCDate() === Number(m[3]);
  });
  return ajv.compile(schema);
}

describe('draft-04 evaluator', () => {
  it.each(CASES)('%s: agrees with Ajv', (_name, schema, values) => {
    const ours = new SchemaEvaluator(schema);
    const theirs = ajvFor(schema);
    for (const v of values) {
      expect(ours.validate(v).issues.length === 0, JSON.stringify(v)).toBe(theirs(v));
    }
  });

  it('reports the path of the failing item and key', () => {
    const ev = new SchemaEvaluator({ properties: { list: { items: { properties: { n: { type: 'integer' } } } } } });
    expect(ev.validate({ list: [{ n: 1 }, { n: 'x' }] }).issues).toEqual([{ path: ['list', 1, 'n'], keyword: 'type', message: 'expected an integer, got a string "x"' }]);
  });

  it('picks the oneOf form that fits a mapping and reports inside it', () => {
    const ev = new SchemaEvaluator({ oneOf: [{ type: 'string' }, { type: 'object', properties: { a: { type: 'boolean' } }, additionalProperties: false }] });
    expect(ev.validate({ a: 'no' }).issues.map((i) => [i.path, i.message])).toEqual([[['a'], 'expected a boolean, got a string "no"']]);
    expect(ev.validate(5).issues.map((i) => i.message)).toEqual(['expected a string or a mapping, got an integer 5']);
  });

  it('reports deprecations only on the form that matched', () => {
    const schema: JsonSchema = {
      properties: {
        k: { oneOf: [{ type: 'string', deprecated: true, deprecated_version: '1.0', deprecated_description: 'use a list' }, { type: 'array' }] },
      },
    };
    const ev = new SchemaEvaluator(schema as Record<string, unknown>);
    expect(ev.validate({ k: 'a' }).deprecations).toEqual([{ path: ['k'], version: '1.0', description: 'use a list' }]);
    expect(ev.validate({ k: ['a'] }).deprecations).toEqual([]);
  });
});
