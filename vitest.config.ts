import { defineConfig } from 'vitest/config';

// Unit tests are fast and use fakes where useful; integration tests run the
// real registry, skopeo, umoci, runc/containerd; boot tests run QEMU.
// Two cores: at most two workers per group, so QEMU boots are not starved.
// integration/kernel-lean.test.ts compiles the lean kernel (about 12 minutes of
// both cores, once per store) before the boot group boots it.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 30_000,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 300_000,
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
        },
      },
      {
        test: {
          // hostile inputs (images, specs, registries) against the real code paths
          name: 'security',
          include: ['test/security/**/*.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 300_000,
          maxWorkers: 2,
          sequence: { groupOrder: 1 },
        },
      },
      {
        test: {
          name: 'boot',
          include: ['test/boot/**/*.test.ts'],
          testTimeout: 600_000,
          hookTimeout: 900_000,
          // Two boot files at a time: a TCG guest keeps one core busy, and a
          // boot test spends much of its time waiting on the guest (backoffs,
          // timeouts, poweroffs), so two halve the group's time on 2 cores.
          // Every file has its own state folder, ports and VM.
          maxWorkers: 2,
          fileParallelism: true,
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
