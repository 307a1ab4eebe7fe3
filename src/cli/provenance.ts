/**
 * Reproducibility: the seeded random source of a run, and what the run records next to its
 * results (package version, commit, backend, Node and tfjs versions).
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { describeBackend } from '../backend';
import { uniformGenerator } from '../core/random';

/** A seeded uniform generator (`core/random.ts`); the same seed gives the same stream. */
export function seededRandom(seed: number): () => number {
  return uniformGenerator(seed);
}

/**
 * Seeds every source of randomness of the run. tfjs draws the seeds of unseeded initializers and
 * random ops, and `tf.util.shuffle` its permutations, from `Math.random`; the CLI owns its process,
 * so it replaces `Math.random` with a seeded generator for the run (the library itself never does).
 */
export function seedProcess(seed: number): void {
  Math.random = seededRandom(seed * 2654435761 + 1);
}

/** The package root (dist/cli/.. /..), where package.json lives. */
export function packageRoot(): string {
  return path.resolve(__dirname, '..', '..');
}

function gitCommit(root: string): string {
  try {
    const commit = execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    return dirty === '' ? commit : `${commit}+modified`;
  } catch {
    return 'unknown';
  }
}

/** What a results JSON records about the software and the backend that produced it. */
export interface Provenance {
  package: string;
  version: string;
  commit: string;
  backend: string;
  node: string;
  tfjs: string;
}

export function provenance(): Provenance {
  const root = packageRoot();
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { name: string; version: string };
  const d = describeBackend();
  const details = [d.simd === undefined ? undefined : d.simd ? 'SIMD' : 'no SIMD', d.threads === undefined ? undefined : d.threads ? 'multi-threaded' : '1 thread'].filter(Boolean);
  return {
    package: pkg.name,
    version: pkg.version,
    commit: gitCommit(root),
    backend: `${d.name}${details.length > 0 ? ` (${details.join(', ')})` : ''}`,
    node: process.version,
    tfjs: tf.version_core,
  };
}
