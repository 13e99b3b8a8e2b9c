// A checkpoint is untrusted input: its pickle may name any Python callable. The reader must
// refuse everything a state dict does not need, before running anything after it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { readCheckpoint } from '../../src/weights/index.ts';
import { unpickle } from '../../src/weights/pickle.ts';
import { UserError } from '../../src/errors.ts';

const FIX = 'test/fixtures/weights';
const MARKER = '/tmp/exp-weights-test-pwned'; // what the fixtures' payload would `touch`

const refused = (pattern: RegExp) => (e: unknown) => {
  assert.ok(e instanceof UserError, `expected a UserError, got ${String(e)}`);
  assert.match(e.message, pattern);
  assert.match(e.message, /never executes code|refused without executing/);
  assert.match(e.message, /torch\.save|save_file/); // says how to fix it
  return true;
};

for (const [file, callable] of [['malicious-os-system.pth', 'os.system'], ['malicious-eval.pth', 'builtins.eval']]) {
  test(`${file}: GLOBAL ${callable} + REDUCE is refused, naming ${callable}, and its payload never runs`, () => {
    rmSync(MARKER, { force: true });
    assert.throws(() => readCheckpoint(join(FIX, file)), refused(new RegExp(callable.replace('.', '\\.'))));
    assert.equal(existsSync(MARKER), false, `${MARKER} exists: the payload ran`);
  });
}

/** Protocol-2 pickle bytes from a latin1 string of opcodes. */
const pkl = (s: string) => Uint8Array.from(Buffer.from(`\x80\x02${s}`, 'latin1'));

test('only the state-dict globals are accepted; any other module or name is refused at the GLOBAL', () => {
  for (const g of ['subprocess\nPopen', 'builtins\ngetattr', 'torch\nload', 'torch._utils\n_rebuild_qtensor', 'collections\ndefaultdict', 'posix\nsystem']) {
    assert.throws(() => unpickle(pkl(`c${g}\n.`), { file: 'x.pth' }), refused(new RegExp(g.replace('\n', '\\.'))), g);
  }
  const od = unpickle(pkl('ccollections\nOrderedDict\n)R.'), { file: 'x.pth' });
  assert.ok(od instanceof Map);
});

test('object-building opcodes (INST, OBJ, NEWOBJ) and unknown opcodes are refused', () => {
  for (const [ops, what] of [['(ios\nsystem\n.', /INST/], ['(ccollections\nOrderedDict\no.', /OBJ/],
    ['ccollections\nOrderedDict\n)\x81.', /NEWOBJ/], ['\xff.', /0xff/]] as const) {
    assert.throws(() => unpickle(pkl(ops), { file: 'x.pth' }), refused(what));
  }
});

test('an allowed storage type cannot be called, and BUILD only drops an OrderedDict\'s metadata', () => {
  assert.throws(() => unpickle(pkl('ctorch\nFloatStorage\n)R.'), { file: 'x.pth' }), refused(/storage type/));
  assert.throws(() => unpickle(pkl(']}b.'), { file: 'x.pth' }), refused(/BUILD/));
  const v = unpickle(pkl('ccollections\nOrderedDict\n)R}X\x01\x00\x00\x00kK\x01sb.'), { file: 'x.pth' });
  assert.ok(v instanceof Map && v.size === 0);
});
