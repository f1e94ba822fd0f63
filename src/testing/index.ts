/** `coracle test`: test files, the runner, its reports. */
export * from './types.js';
export * from './duration.js';
export * from './load.js';
export * from './control.js';
export * from './run.js';
export * from './junit.js';
