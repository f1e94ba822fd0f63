import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { parseModuleList } from '../../../src/build/modules.js';
import { embeddedConfig } from '../../../src/kernel/source.js';

describe('kernel config sources', () => {
  it('finds the gzip config a CONFIG_IKCONFIG kernel carries between IKCFG_ST and IKCFG_ED', () => {
    const config = 'CONFIG_NAMESPACES=y\n# CONFIG_KEXEC is not set\n';
    const kernel = Buffer.concat([Buffer.alloc(4096, 0x90), Buffer.from('IKCFG_ST'), gzipSync(config), Buffer.from('IKCFG_ED'), Buffer.alloc(100, 0xcc)]);
    expect(embeddedConfig(kernel)).toBe(config);
    expect(embeddedConfig(Buffer.alloc(100))).toBeUndefined();
    expect(embeddedConfig(Buffer.from('IKCFG_STnot gzipIKCFG_ED'))).toBeUndefined();
  });

  it('reads module lists as the init does: one name a line, # comments', () => {
    expect(parseModuleList('# boot set\nvirtio_net\n\n  overlay  # writable roots\nnls_iso8859-1\n')).toEqual(['virtio_net', 'overlay', 'nls_iso8859-1']);
  });
});
