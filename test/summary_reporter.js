/**
 * Closes the run with what CI and a reader need: the backend of this pass and why, the suites left
 * to the cpu pass, every skipped test with the reason its title carries (test/helpers/skip.ts),
 * and last the plain line `tests: N passed, N failed, N skipped` that CI reads.
 */
const path = require('path');

class SummaryReporter {
  constructor(_globalConfig, options = {}) {
    this.backend = options.backend ?? 'cpu';
    this.onceSuites = options.onceSuites ?? [];
  }

  onRunComplete(_contexts, results) {
    const out = [];
    const source = process.env.TFJS_LIP_TEST_BACKEND ? 'TFJS_LIP_TEST_BACKEND' : 'default, TFJS_LIP_TEST_BACKEND unset';
    out.push(`backend: ${this.backend} (${source})`);
    if (this.backend !== 'cpu' && this.onceSuites.length > 0) {
      out.push(`run in the cpu pass only (own processes, or backend-independent): ${this.onceSuites.join(', ')}`);
    }
    for (const file of results.testResults) {
      const skipped = file.testResults.filter((t) => t.status === 'pending' || t.status === 'skipped');
      for (const t of skipped) {
        const title = [...t.ancestorTitles, t.title].join(' > ');
        const reason = /\[skipped: ([^\]]+)\]/.exec(title)?.[1] ?? 'marked skip without a reason';
        out.push(`skipped ${path.basename(file.testFilePath)}: ${t.title.replace(/ \[skipped: [^\]]+\]/, '')} (${reason})`);
      }
    }
    const { numPassedTests, numFailedTests, numPendingTests, numRuntimeErrorTestSuites } = results;
    const failed = numFailedTests + numRuntimeErrorTestSuites;
    out.push(`tests: ${numPassedTests} passed, ${failed} failed, ${numPendingTests} skipped`);
    process.stdout.write(`\n${out.join('\n')}\n`);
  }
}
module.exports = SummaryReporter;
