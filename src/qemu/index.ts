/** The QEMU runner: options, command line, KVM probe, VM control, runQemu. */
export * from './options.js';
export * from './args.js';
export * from './kvm-probe.js';
export * from './kvm-guard.js';
export * from './qmp.js';
export * from './vm.js';
export * from './seed.js';
export * from './disk.js';
export * from './image.js';
export * from './run.js';
