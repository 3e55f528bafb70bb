/** Registers every float64 reference kernel (the spec). Each op family file adds one import. */
import './elementwise.js';
import './reduce.js';
import './movement.js';
import './loss.js';
import './matmul.js';
import './conv.js';
import './pool.js';
import './norm.js';
