import { describe, expect, it } from 'vitest';
import { pushDestination } from '../../../src/cli/commands/pkg.js';
import { imageRef } from '../../../src/pkg/build.js';

describe('image names', () => {
  it('default to docker.io/coracle/NAME:TAG, --org may carry a registry', () => {
    expect(imageRef('getty', 'abc')).toBe('docker.io/coracle/getty:abc');
    expect(imageRef('getty', 'abc', 'me')).toBe('docker.io/me/getty:abc');
    expect(imageRef('getty', 'abc', 'localhost:5000/team/')).toBe('localhost:5000/team/getty:abc');
  });

  it('--push REGISTRY keeps repository and tag, with an optional path prefix', () => {
    expect(pushDestination('docker.io/coracle/getty:abc', '127.0.0.1:5000')).toBe('127.0.0.1:5000/coracle/getty:abc');
    expect(pushDestination('docker.io/coracle/getty:abc', 'http://127.0.0.1:5000/')).toBe('127.0.0.1:5000/coracle/getty:abc');
    expect(pushDestination('docker.io/coracle/getty:abc', 'reg.example:443/mirror')).toBe('reg.example:443/mirror/coracle/getty:abc');
  });
});
