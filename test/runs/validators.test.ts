// The run-record validators are generated from schemas/run/*.schema.json (npm run gen); a schema
// edited without regenerating would let readers accept what the schema now rejects.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { renderRunValidators, RUN_SCHEMAS, RUN_VALIDATORS_FILE } from '../../scripts/gen-validators.ts';
import { validator, type RunSchemaName } from '../../src/runs/schemas.ts';

test('src/runs/validators.gen.ts is up to date (npm run gen)', () => {
  assert.equal(readFileSync(RUN_VALIDATORS_FILE, 'utf8'), renderRunValidators(), 'validators.gen.ts is stale: run npm run gen');
});

test('there is a generated validator for every run-record schema, and each rejects a wrong type', () => {
  for (const name of RUN_SCHEMAS) {
    const v = validator(name as RunSchemaName);
    assert.equal(typeof v, 'function', name);
    assert.equal(v('not a record'), false, `${name} accepts a string`);
    assert.match(v.errors?.[0]?.message ?? '', /must be object/, name);
  }
});
