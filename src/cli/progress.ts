/**
 * Progress of a run: one cli-progress bar per epoch with the batch loss and accuracy in an
 * interactive terminal; one line per epoch when stdout is not a TTY or CI is set.
 */
import * as cliProgress from 'cli-progress';

/** True when a live bar makes sense (an interactive terminal, not CI). */
export function isInteractive(stream: NodeJS.WriteStream = process.stdout): boolean {
  const ci = process.env.CI;
  return Boolean(stream.isTTY) && (ci === undefined || ci === '' || ci === 'false' || ci === '0');
}

function formatLogs(logs: Record<string, unknown> | undefined): string {
  return Object.entries(logs ?? {})
    .filter((entry): entry is [string, number] => typeof entry[1] === 'number' && !['batch', 'size'].includes(entry[0]))
    .map(([k, v]) => `${k} ${v.toFixed(4)}`)
    .join('  ');
}

/** Callbacks for lip.train.fit, plus the measured seconds of each epoch. */
export interface EpochProgress {
  callbacks: {
    onEpochBegin: (epoch: number) => Promise<void>;
    onBatchEnd: (batch: number, logs?: Record<string, unknown>) => Promise<void>;
    onEpochEnd: (epoch: number, logs?: Record<string, unknown>) => Promise<void>;
  };
  epochSeconds: number[];
}

export function epochProgress(args: { label: string; epochs: number; batches: number; live?: boolean; log?: (line: string) => void }): EpochProgress {
  const live = args.live ?? isInteractive();
  const log = args.log ?? ((line: string) => process.stdout.write(`${line}\n`));
  const epochSeconds: number[] = [];
  let bar: cliProgress.SingleBar | undefined;
  let start = 0;
  const width = String(args.epochs).length;
  return {
    epochSeconds,
    callbacks: {
      onEpochBegin: async (epoch) => {
        start = Date.now();
        if (!live) return;
        bar = new cliProgress.SingleBar(
          { format: `  ${args.label} epoch {epoch}/${args.epochs} {bar} {value}/{total} batches | {logs}`, hideCursor: true, clearOnComplete: false },
          cliProgress.Presets.shades_classic,
        );
        bar.start(args.batches, 0, { epoch: String(epoch + 1).padStart(width), logs: '' });
      },
      onBatchEnd: async (batch, logs) => {
        bar?.update(batch + 1, { logs: formatLogs({ loss: logs?.loss, acc: logs?.acc }) });
      },
      onEpochEnd: async (epoch, logs) => {
        const seconds = (Date.now() - start) / 1000;
        epochSeconds.push(seconds);
        if (bar !== undefined) {
          bar.update(args.batches, { logs: formatLogs(logs) });
          bar.stop();
          bar = undefined;
        }
        log(`  ${args.label} epoch ${String(epoch + 1).padStart(width)}/${args.epochs}  ${formatLogs(logs)}  (${seconds.toFixed(1)} s)`);
      },
    },
  };
}
