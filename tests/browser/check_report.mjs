// Opens a userlake HTML report in headless Chromium (Debian's chromium, driven by
// playwright-core over the DevTools protocol) and prints what a reader would get, as JSON:
// console errors, network requests, every section and chart (the series and points ECharts
// holds against those the report declared), whether Chinese text renders as glyphs, and a
// screenshot of each section.
//
//   node tests/browser/check_report.mjs REPORT.html SCREENSHOT_DIR
//
// Chromium is /usr/bin/chromium unless USERLAKE_CHROMIUM names another.
import { mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const [reportPath, screenshotDir] = process.argv.slice(2);
if (!reportPath || !screenshotDir) {
  console.error('usage: node check_report.mjs REPORT.html SCREENSHOT_DIR');
  process.exit(2);
}
mkdirSync(screenshotDir, { recursive: true });
const reportUrl = pathToFileURL(resolve(reportPath)).href;
const profile = mkdtempSync(join(tmpdir(), 'userlake-chromium-'));

const result = { consoleErrors: [], pageErrors: [], requests: [], sections: [], charts: [] };
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.USERLAKE_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-quic',
  ],
  viewport: { width: 1200, height: 900 },
  deviceScaleFactor: 1,
});
try {
  // any request but the report itself is recorded and refused: the file must need none
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url === reportUrl) return route.continue();
    result.requests.push(url);
    return route.abort();
  });
  const page = context.pages()[0] || (await context.newPage());
  page.on('console', (message) => {
    if (message.type() === 'error') result.consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => result.pageErrors.push(String(error)));
  page.on('request', (request) => {
    const url = request.url();
    if (url !== reportUrl && !url.startsWith('data:') && !result.requests.includes(url)) {
      result.requests.push(url);
    }
  });
  await page.goto(reportUrl, { waitUntil: 'load' });
  await page.waitForFunction(() => window.userlakeReport && window.userlakeReport.ready, null, { timeout: 30000 });
  Object.assign(result, await page.evaluate(() => {
    const missing = (v) => v === null || v === undefined || v === '-' ||
      (typeof v === 'object' && !Array.isArray(v) && (v.value === null || v.value === undefined));
    const charts = [...document.querySelectorAll('.chart')].map((element) => {
      const chart = echarts.getInstanceByDom(element);
      const option = chart ? chart.getOption() : { series: [] };
      const svg = element.querySelector('svg');
      return {
        id: element.id,
        section: element.closest('section').dataset.section,
        title: element.closest('figure').querySelector('figcaption').textContent,
        declaredSeries: Number(element.dataset.series),
        declaredPoints: Number(element.dataset.points),
        series: option.series.length,
        seriesNames: option.series.map((s) => s.name),
        // a Sankey diagram's points are its links (its nodes carry no value)
        points: option.series.reduce((n, s) =>
          n + ((s.type === 'sankey' ? s.links : s.data) || []).filter((v) => !missing(v)).length, 0),
        svg: Boolean(svg),
        shapes: svg ? svg.querySelectorAll('path, rect, text').length : 0,
        width: element.clientWidth,
        height: element.clientHeight,
      };
    });
    const sections = [...document.querySelectorAll('section[data-section]')].map((section) => ({
      id: section.dataset.section,
      title: section.querySelector('h2').textContent,
      empty: section.dataset.empty === 'true',
      noData: [...section.querySelectorAll('.no-data')].map((n) => n.textContent),
      tables: section.querySelectorAll('table').length,
      text: section.innerText,
    }));
    // Chinese renders when its characters draw as different glyphs: a font without them
    // draws the same empty box for each
    const sample = [...document.querySelectorAll('td, th, h3, p')].map((e) => e.textContent)
      .find((text) => /[\u4e00-\u9fff]{4}/.test(text)) || '';
    const characters = [...new Set(sample.match(/[\u4e00-\u9fff]/g) || [])].slice(0, 8);
    const canvas = document.createElement('canvas');
    canvas.width = 40; canvas.height = 40;
    const drawing = canvas.getContext('2d');
    drawing.font = '32px ' + getComputedStyle(document.body).fontFamily;
    const glyphs = new Set(characters.map((character) => {
      drawing.clearRect(0, 0, 40, 40);
      drawing.fillText(character, 2, 34);
      return Array.from(drawing.getImageData(0, 0, 40, 40).data).join(',');
    }));
    return {
      ready: window.userlakeReport.ready,
      failures: window.userlakeReport.failures,
      charts,
      sections,
      chinese: { sample, characters: characters.length, distinctGlyphs: glyphs.size },
    };
  }));
  // The page must hold still once drawn: each section's box now and half a second later
  // (timers, not animation frames, which a loaded machine may hold back).
  const boxes = () => page.evaluate(() => Object.fromEntries(
    [...document.querySelectorAll('section[data-section]')].map((section) => {
      const box = section.getBoundingClientRect();
      return [section.dataset.section,
        { x: box.x + window.scrollX, y: box.y + window.scrollY, width: box.width, height: box.height }];
    })));
  const before = await boxes();
  await page.waitForTimeout(500);
  const after = await boxes();
  result.moved = Object.keys(after).filter((id) => JSON.stringify(before[id]) !== JSON.stringify(after[id]));
  // Sections are cut from the whole page rather than shot as elements: an element shot waits
  // for two animation frames with the same box, which a machine busy with other tests can
  // hold back past any timeout, while the page above is checked to be still.
  for (const section of result.sections) {
    section.screenshot = join(screenshotDir, `${section.id}.png`);
    const box = after[section.id];
    try {
      await page.screenshot({
        path: section.screenshot, fullPage: true, timeout: 120000,
        clip: { x: Math.floor(box.x), y: Math.floor(box.y), width: Math.ceil(box.width), height: Math.ceil(box.height) },
      });
    } catch (error) {
      throw new Error(`screenshot of section ${section.id} failed: ${error.message}`);
    }
  }
  await page.screenshot({ path: join(screenshotDir, 'top.png'), timeout: 120000 });
  // a phone's width: the page must still lay out (no chart wider than the screen)
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(300);
  result.phone = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    widestChart: Math.max(0, ...[...document.querySelectorAll('.chart')].map((e) => e.getBoundingClientRect().width)),
  }));
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(screenshotDir, 'phone.png'), timeout: 120000 });
  const funnel = await page.evaluate(() => {
    const box = document.querySelector('section[data-section="funnel"]').getBoundingClientRect();
    return { x: 0, y: Math.floor(box.y + window.scrollY), width: Math.ceil(box.right), height: Math.ceil(box.height) };
  });
  await page.screenshot({ path: join(screenshotDir, 'phone-funnel.png'), fullPage: true, clip: funnel, timeout: 120000 });
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify(result, null, 1));
