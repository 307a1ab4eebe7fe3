/**
 * lip.io.saveModel's target directory: it fails fast (well under 2 s) with an error naming the
 * path and the reason for procfs/sysfs paths (where Node's recursive mkdir loops forever), a file
 * in the way, an unwritable directory, a name the file system refuses and an empty location;
 * missing levels are created one by one and the model saved there loads back.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { loadModel, saveModel } from '../src/io';
import { prepareDirectory } from '../src/io/target_dir';
import { sequential } from '../src/model';
import { spectralDense } from '../src/layers/dense';
import { itIf } from './helpers/skip';

const FAST_MS = 2000;

let tmp: string;
let model: tfl.Sequential;
beforeAll(() => {
  model = sequential({ layers: [spectralDense({ units: 3, inputShape: [2], name: 'd' })] });
});
afterAll(() => model.dispose());
beforeEach(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-lip-target-'));
});
afterEach(() => {
  fs.chmodSync(tmp, 0o755);
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** The rejection message of `saveModel(model, location)` and how long it took. */
async function failure(location: string): Promise<{ message: string; ms: number }> {
  const start = Date.now();
  const message = await saveModel(model, location).then(
    () => 'saved',
    (e: Error) => e.message,
  );
  return { message, ms: Date.now() - start };
}

/** The statfs type of `p`, or undefined where statfs is missing. */
function fsType(p: string): number | undefined {
  try {
    return fs.statfsSync(p).type;
  } catch {
    return undefined;
  }
}

const onProcfs = fsType('/proc') === 0x9fa0;
const onSysfs = fsType('/sys') === 0x62656572;
const asRoot = typeof process.getuid === 'function' && process.getuid() === 0;

describe('saveModel fails fast on a directory it cannot use', () => {
  itIf(onProcfs, '/proc is not procfs here')('/proc/x and /proc/x/y/z: procfs, named (Node would spin forever in mkdir)', async () => {
    for (const target of ['/proc/x', '/proc/x/y/z']) {
      const { message, ms } = await failure(target);
      expect(message).toBe(
        `lip.io cannot save to ${target}: /proc is on procfs, a virtual kernel file system where no file can be created; choose a directory on a disk (e.g. ./out).`,
      );
      expect(ms).toBeLessThan(FAST_MS);
    }
    expect(fs.existsSync('/proc/x')).toBe(false);
  });

  itIf(onSysfs, '/sys is not sysfs here')('/sys/x: sysfs, named', async () => {
    const { message, ms } = await failure('file:///sys/x');
    expect(message).toBe('lip.io cannot save to /sys/x: /sys is on sysfs, a virtual kernel file system where no file can be created; choose a directory on a disk (e.g. ./out).');
    expect(ms).toBeLessThan(FAST_MS);
  });

  it('a file on the way (the target itself, or an ancestor)', async () => {
    const file = path.join(tmp, 'file');
    fs.writeFileSync(file, 'x');
    for (const target of [file, path.join(file, 'sub', 'dir')]) {
      const { message, ms } = await failure(target);
      expect(message).toBe(`lip.io cannot save to ${target}: ${file} exists and is not a directory.`);
      expect(ms).toBeLessThan(FAST_MS);
    }
    expect(fs.readFileSync(file, 'utf8')).toBe('x');
  });

  // chmod does not stop root, who writes anywhere: the case is then covered by the next test only.
  itIf(!asRoot, 'running as root')('a read-only directory (chmod 555; skipped as root, where chmod stops nothing)', async () => {
    fs.chmodSync(tmp, 0o555);
    const target = path.join(tmp, 'model');
    const { message, ms } = await failure(target);
    expect(message).toBe(`lip.io cannot save to ${target}: the directory ${tmp} is not writable (EACCES).`);
    expect(ms).toBeLessThan(FAST_MS);
  });

  it('an unwritable directory as reported by the file system (access() refusing with EROFS)', async () => {
    const refusing = new Proxy(fs, {
      get(target, key, receiver) {
        if (key !== 'accessSync') return Reflect.get(target, key, receiver);
        return (p: fs.PathLike, mode?: number) => {
          if (String(p) === tmp) throw Object.assign(new Error(`EROFS: read-only file system, access '${tmp}'`), { code: 'EROFS' });
          return fs.accessSync(p, mode);
        };
      },
    });
    const target = path.join(tmp, 'a', 'b');
    await expect(prepareDirectory(refusing, path, target)).rejects.toThrow(
      new Error(`lip.io cannot save to ${target}: the directory ${tmp} is not writable (EROFS).`),
    );
    expect(fs.readdirSync(tmp)).toEqual([]);
  });

  it('a name the file system refuses (ENAMETOOLONG) and an empty location', async () => {
    const target = path.join(tmp, 'n'.repeat(300));
    const { message, ms } = await failure(target);
    expect(message).toBe(`lip.io cannot save to ${target}: cannot inspect ${target} (ENAMETOOLONG: name too long).`);
    expect(ms).toBeLessThan(FAST_MS);
    expect((await failure('')).message).toBe("saveModel location expected a directory path or a file:// URL (e.g. './out'), but got ''.");
    expect((await failure('file://')).message).toBe("saveModel location expected a directory path or a file:// URL (e.g. './out'), but got 'file://'.");
  });
});

describe('saveModel creates what is missing', () => {
  it('creates the missing levels one by one and the model loads back', async () => {
    const target = path.join(tmp, 'a', 'b', 'c');
    await saveModel(model, target);
    expect(fs.readdirSync(target).sort()).toEqual(['model.json', 'weights.bin']);
    const loaded = await loadModel(target);
    const x = tf.tensor2d([[0.5, -1]]);
    const [a, b] = [model.predict(x) as tf.Tensor, loaded.predict(x) as tf.Tensor];
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    tf.dispose([x, a, b]);
    loaded.dispose();
    // Saving again into the existing directory overwrites in place.
    await saveModel(model, target);
    expect(fs.readdirSync(target).sort()).toEqual(['model.json', 'weights.bin']);
  });
});
