import { defineConfig } from 'vitest/config';

// The lean kernel's tests (images/kernel-lean): `npx vitest run -c vitest.lean.config.ts`.
// Not part of `npm test` yet: the first run compiles the kernel (about
// 1,700 objects, an estimated 13-15 minutes on a 2-core machine of its own),
// and the image has not yet been built and booted end to end on the shared
// development machine (see /work/notes/issue-12.md). Files named
// *.lean.test.ts are left out of vitest.config.ts's projects.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'lean-integration',
          include: ['test/integration/**/*.lean.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 300_000,
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'lean-boot',
          include: ['test/boot/**/*.lean.test.ts'],
          testTimeout: 600_000,
          hookTimeout: 3_000_000,
          maxWorkers: 1,
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
