import { describe, expect, it } from 'vitest';
import { CoracleError } from '../../../src/errors.js';
import { parseAccel, parseCpus, parseDisk, parseMem, parsePublish } from '../../../src/qemu/options.js';

describe('parsePublish', () => {
  it('takes HOST:GUEST with tcp by default', () => {
    expect(parsePublish('8080:80')).toEqual({ hostAddress: undefined, hostPort: 8080, guestPort: 80, protocol: 'tcp' });
  });
  it('takes a protocol and a host address', () => {
    expect(parsePublish('5353:53/udp')).toMatchObject({ hostPort: 5353, guestPort: 53, protocol: 'udp' });
    expect(parsePublish('127.0.0.1:2222:22/tcp')).toEqual({ hostAddress: '127.0.0.1', hostPort: 2222, guestPort: 22, protocol: 'tcp' });
  });
  it('refuses bad values with the value in the message', () => {
    expect(() => parsePublish('80')).toThrow(CoracleError);
    expect(() => parsePublish('80')).toThrow(/--publish 80/);
    expect(() => parsePublish('a:80')).toThrow(/host port "a"/);
    expect(() => parsePublish('80:70000')).toThrow(/out of range/);
    expect(() => parsePublish('80:80/sctp')).toThrow(/tcp or udp/);
    expect(() => parsePublish('host:80:80')).toThrow(/IPv4/);
  });
});

describe('parseDisk', () => {
  it('takes a bare path; format from the extension, qcow2 otherwise', () => {
    expect(parseDisk('disk.qcow2')).toEqual({ path: 'disk.qcow2', size: undefined, format: 'qcow2' });
    expect(parseDisk('disk.img')).toMatchObject({ format: 'raw' });
    expect(parseDisk('data')).toMatchObject({ format: 'qcow2' });
  });
  it('takes file=, size= and format= in any order', () => {
    expect(parseDisk('file=/x/d.raw,size=2G,format=raw')).toEqual({ path: '/x/d.raw', size: '2G', format: 'raw' });
    expect(parseDisk('size=512,file=d')).toEqual({ path: 'd', size: '512M', format: 'qcow2' });
  });
  it('refuses unknown keys, formats, sizes and a missing file', () => {
    expect(() => parseDisk('d,speed=1')).toThrow(/unknown key "speed"/);
    expect(() => parseDisk('d,format=zip')).toThrow(/unknown format "zip"/);
    expect(() => parseDisk('d,size=lots')).toThrow(/size "lots"/);
    expect(() => parseDisk('size=1G')).toThrow(/no file/);
  });
});

describe('mem, cpus, accel', () => {
  it('parses', () => {
    expect(parseMem('512')).toBe(512);
    expect(parseMem('2G')).toBe(2048);
    expect(parseMem('768M')).toBe(768);
    expect(parseCpus('2')).toBe(2);
    expect(parseAccel('tcg')).toBe('tcg');
  });
  it('refuses nonsense', () => {
    expect(() => parseMem('1T')).toThrow(/--mem 1T/);
    expect(() => parseMem('10')).toThrow(/at least 64/);
    expect(() => parseCpus('0')).toThrow(/--cpus 0/);
    expect(() => parseAccel('hvf')).toThrow(/--accel hvf/);
  });
});
