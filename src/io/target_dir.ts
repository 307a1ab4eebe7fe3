/**
 * Creating the directory a model is saved into, with a clear error instead of a hang.
 *
 * Node's `fs.mkdir(p, {recursive: true})` never returns for a path on procfs (`/proc/x`): there
 * `mkdir` fails with ENOENT although the parent exists, so Node's loop creates the parent (EEXIST),
 * retries the child (ENOENT) and so on, at 100% CPU. `prepareDirectory` therefore walks up to the
 * first existing ancestor, checks that it is a writable directory on an ordinary file system, and
 * creates the missing levels one at a time without `recursive`.
 */
import type * as fsModule from 'fs';
import type * as pathModule from 'path';

/**
 * Linux virtual file systems on which no model can be written, by `statfs` magic number
 * (linux/magic.h).
 */
const VIRTUAL_FILE_SYSTEMS: ReadonlyMap<number, string> = new Map([
  [0x9fa0, 'procfs'],
  [0x62656572, 'sysfs'],
  [0x27e0eb, 'cgroup'],
  [0x63677270, 'cgroup2'],
  [0x64626720, 'debugfs'],
  [0x74726163, 'tracefs'],
  [0x73636673, 'securityfs'],
  [0x1cd1, 'devpts'],
  [0xcafe4a11, 'bpf'],
  [0x6165676c, 'pstore'],
  [0x62656570, 'configfs'],
  [0xde5e81e4, 'efivarfs'],
  [0xf97cff8c, 'selinuxfs'],
]);

function codeOf(error: unknown): string | undefined {
  return (error as { code?: string } | null)?.code;
}

/**
 * The reason of a Node fs error without the path it repeats: `ENAMETOOLONG: name too long` from
 * `ENAMETOOLONG: name too long, stat '/x/...'`. Duck-typed (errors of Node's core may come from
 * another realm, e.g. under jest).
 */
function messageOf(error: unknown): string {
  const message = (error as { message?: unknown } | null)?.message;
  if (typeof message !== 'string') return String(error);
  const comma = message.indexOf(', ');
  return codeOf(error) !== undefined && comma > 0 ? message.slice(0, comma) : message;
}

/** `stat` of `p`, or undefined when nothing is there (ENOENT, or ENOTDIR: a file on the way). */
function statOrNone(fs: typeof fsModule, p: string, target: string): fsModule.Stats | undefined {
  try {
    return fs.statSync(p, { throwIfNoEntry: false }) ?? undefined;
  } catch (error) {
    if (codeOf(error) === 'ENOTDIR') return undefined;
    throw new Error(`lip.io cannot save to ${target}: cannot inspect ${p} (${messageOf(error)}).`);
  }
}

/** The name of the virtual file system holding `p`, or undefined (also where statfs is missing). */
function virtualFileSystem(fs: typeof fsModule, p: string): string | undefined {
  const statfs = (fs as { statfsSync?: (path: string) => { type: number } }).statfsSync;
  if (typeof statfs !== 'function') return undefined;
  try {
    return VIRTUAL_FILE_SYSTEMS.get(Number(statfs.call(fs, p).type));
  } catch {
    return undefined;
  }
}

/**
 * Makes sure `dir` exists and can take files: fails fast, naming `dir` (as `target`) and the
 * reason, when an ancestor is a file, lies on a virtual file system (procfs, sysfs, ...), is not
 * writable, or a level cannot be created.
 */
export async function prepareDirectory(fs: typeof fsModule, path: typeof pathModule, dir: string): Promise<void> {
  const target = path.resolve(dir);
  const missing: string[] = [];
  let existing = target;
  let stats = statOrNone(fs, existing, target);
  while (stats === undefined) {
    missing.unshift(existing);
    const parent = path.dirname(existing);
    if (parent === existing) throw new Error(`lip.io cannot save to ${target}: no part of the path exists.`);
    existing = parent;
    stats = statOrNone(fs, existing, target);
  }
  if (!stats.isDirectory()) {
    throw new Error(`lip.io cannot save to ${target}: ${existing} exists and is not a directory.`);
  }
  const virtual = virtualFileSystem(fs, existing);
  if (virtual !== undefined) {
    throw new Error(
      `lip.io cannot save to ${target}: ${existing} is on ${virtual}, a virtual kernel file system where ` +
        'no file can be created; choose a directory on a disk (e.g. ./out).',
    );
  }
  try {
    fs.accessSync(existing, fs.constants.W_OK | fs.constants.X_OK);
  } catch (error) {
    throw new Error(`lip.io cannot save to ${target}: the directory ${existing} is not writable (${codeOf(error) ?? messageOf(error)}).`);
  }
  for (const level of missing) {
    try {
      await fs.promises.mkdir(level);
    } catch (error) {
      // Created meanwhile by someone else: fine if it is a directory.
      if (codeOf(error) === 'EEXIST' && statOrNone(fs, level, target)?.isDirectory() === true) continue;
      throw new Error(`lip.io cannot save to ${target}: cannot create the directory ${level} (${messageOf(error)}).`);
    }
  }
}
