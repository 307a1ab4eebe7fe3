/**
 * A tfjs `fit` callback drawing one progress bar per epoch with cli-progress. When stdout is not
 * a terminal, or CI=true, it draws nothing while training and prints one line per epoch instead.
 */
'use strict';

const cliProgress = require('cli-progress');

/** True when a live progress bar makes sense (an interactive terminal, not CI). */
function interactive(stream = process.stdout) {
  const ci = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false' && process.env.CI !== '0';
  return Boolean(stream.isTTY) && !ci;
}

function formatSeconds(s) {
  return s < 60 ? `${s.toFixed(1)}s` : `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, '0')}s`;
}

function formatLogs(logs) {
  return Object.entries(logs || {})
    .filter(([, v]) => typeof v === 'number')
    .map(([k, v]) => `${k} ${v.toFixed(4)}`)
    .join('  ');
}

/**
 * Returns callbacks for `model.fit(x, y, {callbacks})`.
 * @param {{epochs: number, samples: number, batchSize: number, interactive?: boolean}} options
 */
function progressCallback({ epochs, samples, batchSize, interactive: live = interactive() }) {
  const batches = Math.ceil(samples / batchSize);
  const width = String(epochs).length;
  let bar;
  let epochStart = 0;
  return {
    onEpochBegin: async (epoch) => {
      epochStart = Date.now();
      if (!live) return;
      bar = new cliProgress.SingleBar(
        {
          format: `  epoch {epoch}/${epochs} {bar} {percentage}% | {value}/{total} batches | {logs} | {time}`,
          barCompleteChar: '\u2588',
          barIncompleteChar: '\u2591',
          barsize: 24,
          hideCursor: true,
          clearOnComplete: false,
          noTTYOutput: false,
          etaBuffer: 20,
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(batches, 0, { epoch: String(epoch + 1).padStart(width), logs: '', time: '0.0s' });
    },
    onBatchEnd: async (batch, logs) => {
      if (!bar) return;
      bar.update(batch + 1, {
        logs: formatLogs(logs && { loss: logs.loss, acc: logs.acc }),
        time: formatSeconds((Date.now() - epochStart) / 1000),
      });
    },
    onEpochEnd: async (epoch, logs) => {
      const time = formatSeconds((Date.now() - epochStart) / 1000);
      if (bar) {
        bar.update(batches, { logs: formatLogs(logs), time });
        bar.stop();
        bar = undefined;
      } else {
        console.log(`  epoch ${String(epoch + 1).padStart(width)}/${epochs}  ${formatLogs(logs)}  (${time})`);
      }
    },
  };
}

module.exports = { progressCallback, interactive, formatSeconds };
