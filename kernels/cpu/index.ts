/** Registers every fast cpu kernel. Each op family file adds one import. */
import './elementwise.js';
import './reduce.js';
import './movement.js';
import './loss.js';
import './matmul.js';
import './conv.js';
import './pool.js';
import './norm.js';
