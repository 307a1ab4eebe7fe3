/**
 * The SVG plots of `tfjs-lip run` render in headless Chromium: each chart (training curves,
 * certified accuracy against radius, Wasserstein dual surface) is loaded as an image and as
 * inline SVG, screenshotted (non-blank), and has two titled axes with units and a legend. Needs
 * dist/ and /usr/bin/chromium (or $CHROMIUM_PATH); skipped with the reason otherwise.
 */
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import type { Browser } from 'playwright-core';
import { describeIf } from './helpers/skip';

const ROOT = path.join(__dirname, '..');
const FIXTURES = path.join(__dirname, 'fixtures', 'cli');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const hasChromium = fs.existsSync(CHROMIUM);
const built = fs.existsSync(path.join(ROOT, 'dist', 'cli', 'index.js'));
const reason = !hasChromium ? `no Chromium at ${CHROMIUM} (install Debian's chromium)` : 'dist/ is not built (npm run build)';

describeIf(hasChromium && built, reason)('tfjs-lip plots in headless Chromium', () => {
  let tmp: string;
  let browser: Browser | undefined;
  let svgs: string[] = [];

  beforeAll(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tfjs-lip-plots-'));
    const args = ['run', path.join(FIXTURES, 'tiny_hkr.json'), path.join(FIXTURES, 'tiny_wasserstein.json'), '--out', tmp, '--backend', 'cpu'];
    await promisify(execFile)(process.execPath, [path.join(ROOT, 'bin', 'tfjs-lip.js'), ...args], { cwd: ROOT, env: { ...process.env, CI: '1' } });
    svgs = [path.join(tmp, 'tiny_hkr_training.svg'), path.join(tmp, 'tiny_hkr_certified.svg'), path.join(tmp, 'tiny_wasserstein', 'dual_surface.svg')];
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
  }, 120000);

  afterAll(async () => {
    await browser?.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('renders every chart with axes, units and a legend, and the screenshot is not blank', async () => {
    for (const file of svgs) {
      const svg = fs.readFileSync(file, 'utf8');
      const page = await browser!.newPage();
      await page.setContent(`<html><body style="margin:0;background:white"><img id="img" src="data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}"><div id="inline">${svg}</div></body></html>`);
      const info = await page.evaluate(() => {
        const img = document.getElementById('img') as HTMLImageElement;
        const inline = document.getElementById('inline')!;
        return {
          width: img.naturalWidth,
          height: img.naturalHeight,
          axisTitles: Array.from(inline.querySelectorAll('.role-axis-title text')).map((t) => t.textContent ?? ''),
          legends: inline.querySelectorAll('.role-legend').length,
          marks: inline.querySelectorAll('.mark-line path, .mark-symbol path').length,
        };
      });
      expect(info.width).toBeGreaterThan(100);
      expect(info.height).toBeGreaterThan(100);
      expect(info.axisTitles.length).toBeGreaterThanOrEqual(2);
      expect(info.axisTitles.some((t) => /\(.+\)/.test(t))).toBe(true); // units in parentheses
      expect(info.legends).toBeGreaterThanOrEqual(1);
      expect(info.marks).toBeGreaterThan(0);
      const png = await page.locator('#img').screenshot();
      expect(png.length).toBeGreaterThan(2000); // a blank white image compresses to far less
      fs.writeFileSync(path.join(tmp, `${path.basename(file, '.svg')}.png`), png);
      await page.close();
    }
  }, 120000);
});
