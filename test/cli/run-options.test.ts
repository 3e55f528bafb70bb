/**
 * The one mapping between flags and run options: the library's option fields are `ec2t train /
 * ternarize`'s flags in the same order (config.json lists them so), the commands' defaults are the
 * library's, and a parsed command line maps to options and back to the same record.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCommand } from '../../cli/args.js';
import { scaleSpec, ternarizeSpec, trainSpec } from '../../cli/commands.js';
import { SCALE_SEARCH_DEFAULTS, TERNARIZE_RUN_DEFAULTS, TERNARIZE_RUN_FIELDS, TRAIN_RUN_DEFAULTS, TRAIN_RUN_FIELDS, flagName, flagsOfRunOptions, optionName, runOptionsFromFlags } from '../../ec2t/recipes/defaults.js';
import { scaleSearchOptions } from '../../cli/run-scale.js';

const cases = [
  { spec: trainSpec, fields: TRAIN_RUN_FIELDS, defaults: TRAIN_RUN_DEFAULTS, argv: ['--model', 'resnet20', '--batch-size', '32', '--no-augment', '--limit-train', '100'] },
  { spec: ternarizeSpec, fields: TERNARIZE_RUN_FIELDS, defaults: TERNARIZE_RUN_DEFAULTS, argv: ['--model', 'lenet5', '--weights', 'w.safetensors', '--retrain-epochs', '2', '--layers', 'conv*', 'fc1'] },
];

for (const { spec, fields, defaults, argv } of cases) {
  test(`ec2t ${spec.name}: every flag but --json is a run option, in the same order`, () => {
    assert.deepEqual(fields.map(flagName), Object.keys(spec.flags).filter((k) => k !== 'json'));
    for (const f of fields) assert.equal(optionName(flagName(f)), f);
  });

  test(`ec2t ${spec.name}: the flag defaults are the library's`, () => {
    for (const [k, v] of Object.entries(defaults)) assert.equal(spec.flags[flagName(k)]?.default, v, `--${flagName(k)}`);
    const undeclared = Object.entries(spec.flags).filter(([k, f]) => f.default !== undefined && !(optionName(k) in defaults)).map(([k]) => k);
    assert.deepEqual(undeclared, [], 'every flag default has a library default');
  });

  test(`ec2t ${spec.name}: a parsed command line maps to options and back to the record config.json holds`, () => {
    const flags = parseCommand(spec, argv).flags;
    const options = runOptionsFromFlags<Record<string, unknown>>(flags);
    const record = JSON.parse(JSON.stringify(flags)) as Record<string, unknown>;
    assert.deepEqual(Object.entries(flagsOfRunOptions(options, fields)), Object.entries(record));
  });
}

test('ec2t scale: the flag defaults are the library\'s; --grid and --base become pairs', () => {
  for (const [k, v] of Object.entries(SCALE_SEARCH_DEFAULTS)) assert.equal(scaleSpec.flags[flagName(k)]?.default, v, `--${flagName(k)}`);
  const grid = scaleSearchOptions(parseCommand(scaleSpec, ['--grid', '1,1.4', '1.2,1.3', '--limit-train', '64']).flags);
  assert.deepEqual(grid.grid, [[1, 1.4], [1.2, 1.3]]);
  assert.equal(grid.limitTrain, 64);
  const phi = scaleSearchOptions(parseCommand(scaleSpec, ['--phi', '2', '--base', '1.4,1.2']).flags);
  assert.deepEqual(phi.base, [1.4, 1.2]);
  assert.throws(() => scaleSearchOptions(parseCommand(scaleSpec, ['--phi', '2', '--base', '1.4']).flags), /--base "1.4": expected d,w/);
});
