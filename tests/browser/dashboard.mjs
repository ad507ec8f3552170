// Drives the gha-ingest dashboard as an operator would, in headless chromium:
// add a repository, trigger a collection, see its runs appear, open a job's log.
// Usage: node dashboard.mjs <dashboard url> <admin token> <owner/name> <screenshot.png>
// Exits non-zero, saying which step failed, when the dashboard does not do its job.
import { chromium } from "playwright-core";

const [url, token, repository, screenshot] = process.argv.slice(2);
if (!url || !token || !repository || !screenshot) {
  console.error("usage: node dashboard.mjs URL TOKEN OWNER/NAME SCREENSHOT");
  process.exit(2);
}
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const browser = await chromium.launch({
  executablePath,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
let step = "open the dashboard";
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.setDefaultTimeout(30_000);
  await page.goto(url);
  await page.waitForSelector("#pipeline-status");

  step = "enter the admin token";
  await page.fill("#admin-token", token);

  step = "add the repository";
  await page.fill("#repo-input", repository);
  await page.click("#repo-add");
  await page.locator("#repo-list").getByText(repository).waitFor();

  step = "trigger a collection";
  await page.click("#collect-now");

  step = "see the repository's runs in the recent runs table";
  const row = page.locator("#runs-table tbody tr", { hasText: repository }).first();
  await row.waitFor();

  step = "take a screenshot of the dashboard";
  await page.waitForTimeout(500);
  await page.screenshot({ path: screenshot, fullPage: true });

  step = "open a job's log";
  await row.locator("a.job").first().click();
  await page.waitForSelector("#log-viewer:not([hidden])");
  await page.waitForFunction(() => (document.querySelector("#log-text")?.textContent || "").includes("##[group]"));

  step = "take a screenshot of the log viewer";
  const logShot = screenshot.replace(/\.png$/, "") + "-log.png";
  await page.screenshot({ path: logShot });
  console.log(`dashboard ok: ${repository} added, runs listed, job log shown; screenshots ${screenshot}, ${logShot}`);
} catch (error) {
  console.error(`dashboard test failed at step "${step}": ${error.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
