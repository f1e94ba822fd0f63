/** A JUnit XML report of one test file (the format CI systems read: one testsuite, one testcase per step). */
import type { TestReport } from './types.js';

function xml(s: string): string {
  // characters XML 1.0 cannot hold at all (console escapes) are dropped
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x08\x0b\x0c\x0e-\x1f]/g, '').replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

const secs = (ms: number) => (ms / 1000).toFixed(3);

export function junitXml(r: TestReport): string {
  const failures = r.steps.filter((s) => s.status === 'fail').length;
  const skipped = r.steps.filter((s) => s.status === 'skip').length;
  const out: string[] = ['<?xml version="1.0" encoding="UTF-8"?>'];
  out.push(`<testsuites name="coracle test" tests="${r.steps.length}" failures="${failures}" skipped="${skipped}" time="${secs(r.durationMs)}">`);
  out.push(`  <testsuite name="${xml(r.file)}" tests="${r.steps.length}" failures="${failures}" errors="0" skipped="${skipped}" time="${secs(r.durationMs)}">`);
  out.push(`    <properties><property name="target" value="${xml(r.target)}"/></properties>`);
  for (const s of r.steps) {
    const name = `${String(s.index).padStart(2, '0')} ${s.label}`;
    const open = `    <testcase name="${xml(name)}" classname="${xml(r.file)}" file="${xml(s.file)}" line="${s.line}" time="${secs(s.durationMs)}"`;
    if (s.status === 'pass') out.push(`${open}/>`);
    else if (s.status === 'skip') out.push(`${open}><skipped message="an earlier step failed"/></testcase>`);
    else {
      out.push(`${open}>`);
      out.push(`      <failure message="${xml(s.message ?? 'failed')}" type="${s.kind}">${xml(`${s.file}:${s.line}:${s.col}: ${s.message ?? ''}`)}</failure>`);
      if (r.consoleTail) out.push(`      <system-out>${xml(r.consoleTail.join('\n'))}</system-out>`);
      out.push('    </testcase>');
    }
  }
  out.push('  </testsuite>', '</testsuites>', '');
  return out.join('\n');
}
