// PythonRandom against values printed by CPython 3.11 (python3 -c "import random; random.seed(42); ...").
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PythonRandom } from '../src/layouts/random.js';

const words = (r: PythonRandom, n: number) => Array.from({ length: n }, () => r.getrandbits(32));

test('random.seed(42); getrandbits(32) x5', () => {
  assert.equal(words(new PythonRandom(42), 5), [2746317213, 478163327, 107420369, 3184935163, 1181241943]);
});

test('random.seed(0); getrandbits(32) x3 and random() x3', () => {
  assert.equal(words(new PythonRandom(0), 3), [3626764237, 1654615998, 3255389356]);
  const r = new PythonRandom(0);
  assert.equal([r.random(), r.random(), r.random()], [0.8444218515250481, 0.7579544029403025, 0.420571580830845]);
});

test('default seed is 0', () => {
  assert.equal(words(new PythonRandom(), 3), words(new PythonRandom(0), 3));
});

test('multi-word seeds (2**40 + 5, 2**64) and negative seeds use |seed|', () => {
  assert.equal(words(new PythonRandom(2 ** 40 + 5), 3), [2166296868, 2220160828, 1153647273]);
  assert.equal(words(new PythonRandom(2n ** 40n + 5n), 3), [2166296868, 2220160828, 1153647273]);
  assert.equal(words(new PythonRandom(2n ** 64n), 2), [4198958755, 3158798261]);
  assert.equal(words(new PythonRandom(-7), 3), [1390851128, 4071050724, 647892279]);
  assert.equal(words(new PythonRandom(7), 3), [1390851128, 4071050724, 647892279]);
});

test('getrandbits of 1, 7, 33, 53, 64 and 100 bits (random.seed(1))', () => {
  const r = new PythonRandom(1);
  assert.is(r.getrandbits(1), 0);
  assert.is(r.getrandbits(7), 72);
  assert.is(r.getrandbits(33), 7934667487);
  assert.is(r.getrandbits(53), 568416432208836);
  assert.is(r.getrandbitsBigInt(64), 2175216119781798972n);
  assert.is(r.getrandbitsBigInt(100), 590209488520255358040687302011n);
  assert.is(r.getrandbits(0), 0);
});

test('random.seed(42); random.sample(range(100), 10) (set method)', () => {
  assert.equal(new PythonRandom(42).sample(100, 10), [81, 14, 3, 94, 35, 31, 28, 17, 13, 86]);
});

test('random.sample: pool method with k > 5, set method with a large range', () => {
  assert.equal(new PythonRandom(3).sample(50, 10), [15, 37, 34, 8, 23, 38, 30, 40, 48, 4]);
  assert.equal(new PythonRandom(3).sample(10000, 20), [
    3898, 9709, 8916, 2136, 6061, 9894, 7766, 9516, 1073, 9922, 215, 7687, 4249, 9024, 3839, 3141, 7704, 8863, 9005, 7804,
  ]);
});

test('random.sample: small populations, in one stream (random.seed(5))', () => {
  const r = new PythonRandom(5);
  assert.equal(r.sample(1, 1), [0]);
  assert.equal(r.sample(3, 3), [2, 1, 0]);
  assert.equal(r.sample(30, 5), [26, 14, 24, 7, 20]);
  assert.equal(r.sample(22, 5), [1, 5, 3, 11, 15]);
  assert.equal(new PythonRandom(123456789).sample(['a', 'b', 'c', 'd', 'e'], 3), ['d', 'e', 'b']);
});

test('_randbelow (random.Random(11))', () => {
  const r = new PythonRandom(11);
  const got = [1, 2, 3, 7, 100, 1000, 2 ** 31, 2 ** 32, 2 ** 40 + 3].map((n) => r.randbelow(n));
  assert.equal(got, [0, 1, 1, 4, 75, 194, 793110136, 799609893, 667638033862]);
});

test('sample(n, 0) draws nothing', () => {
  const a = new PythonRandom(9);
  assert.equal(a.sample(10, 0), []);
  assert.equal(a.getrandbits(32), new PythonRandom(9).getrandbits(32));
});

test('bad arguments', () => {
  assert.throws(() => new PythonRandom(1.5), (e: unknown) => e instanceof TypeError && /seed/.test(String(e)));
  assert.throws(() => new PythonRandom(0).sample(3, 4), (e: unknown) => e instanceof RangeError && /larger than population/.test(String(e)));
  assert.throws(() => new PythonRandom(0).sample(3, -1), RangeError);
  assert.throws(() => new PythonRandom(0).randbelow(0), RangeError);
  assert.throws(() => new PythonRandom(0).getrandbits(54), RangeError);
});

test.run();
