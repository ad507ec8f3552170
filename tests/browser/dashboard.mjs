// Drives the gha-ingest dashboard as an operator would, in headless chromium: enter the read
// token, see the runs with failures in red and running ones in amber, filter by repository, open
// a job's log, then with the admin token add a repository, trigger a collection and see its runs.
// Usage: node dashboard.mjs <url> <read token> <admin token> <configured owner/name> <new owner/name> <screenshot.png>
// Exits non-zero, saying which step failed, when the dashboard does not do its job.
import { chromium } from "playwright-core";

const [url, readToken, adminToken, configured, added, screenshot] = process.argv.slice(2);
if (!url || !readToken || !adminToken || !configured || !added || !screenshot) {
  console.error("usage: node dashboard.mjs URL READ_TOKEN ADMIN_TOKEN CONFIGURED_REPO NEW_REPO SCREENSHOT");
  process.exit(2);
}
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const browser = await chromium.launch({
  executablePath,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const RED = "rgb(179, 38, 30)";
const AMBER = "rgb(161, 92, 0)";
let step = "open the dashboard";
const problems = [];
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.setDefaultTimeout(30_000);
  // A CSP violation or script error means the page is broken even if it looks fine.
  page.on("pageerror", (error) => problems.push("page error: " + error.message));
  page.on("console", (message) => {
    if (message.type() === "error" && !/status of 401/.test(message.text())) problems.push("console: " + message.text());
  });
  await page.goto(url);
  await page.waitForSelector("#pipeline-status");

  step = "be asked for a token";
  await page.waitForSelector("#token-needed:not([hidden])");

  step = "enter the read token";
  await page.fill("#token", readToken);
  await page.press("#token", "Enter");
  await page.waitForSelector("#token-needed[hidden]", { state: "attached" });

  step = "see the configured repository's runs";
  const runs = page.locator("#runs-table tbody tr", { hasText: configured });
  await runs.first().waitFor();

  step = "see a failed run in red";
  const failed = page.locator("#runs-table tbody tr td.status", { hasText: "failure" }).first();
  await failed.waitFor();
  const failedColour = await failed.evaluate((element) => getComputedStyle(element).color);
  if (failedColour !== RED) throw new Error(`a failed run is shown in ${failedColour}, not red ${RED}`);

  step = "see a running run in amber";
  const running = page.locator("#runs-table tbody tr td.status", { hasText: /in_progress|queued/ }).first();
  await running.waitFor();
  const runningColour = await running.evaluate((element) => getComputedStyle(element).color);
  if (runningColour !== AMBER) throw new Error(`a running run is shown in ${runningColour}, not amber ${AMBER}`);

  step = "follow a run to GitHub";
  const href = await runs.first().locator("a.run-link").getAttribute("href");
  if (!href || !/^https?:\/\//.test(href)) throw new Error(`the run links to ${href}`);

  step = "filter the runs by repository";
  await page.waitForFunction((repo) =>
    [...document.querySelectorAll("#runs-table tbody tr")].some((row) => row.dataset.repository !== repo), configured);
  await page.selectOption("#filter-repo", configured);
  await page.waitForFunction((repo) => {
    const rows = [...document.querySelectorAll("#runs-table tbody tr")];
    return rows.length > 0 && rows.every((row) => row.dataset.repository === repo);
  }, configured);
  const shown = await page.textContent("#runs-shown");
  if (!/^\d+ of \d+ runs$/.test(shown || "")) throw new Error(`the filter says ${shown}`);

  step = "see the repository in the per-repository table";
  await page.locator("#repo-list tr", { hasText: configured }).waitFor();

  step = "open the log of a job of the failed run";
  const failedRun = page.locator("#runs-table tbody tr", { has: page.locator("td.status", { hasText: "failure" }) }).first();
  await failedRun.locator("a.job").first().click();
  await page.waitForSelector("#log-viewer:not([hidden])");
  await page.waitForFunction(() => (document.querySelector("#log-text")?.textContent || "").includes("##[group]"));

  step = "take a screenshot of the log viewer";
  const logShot = screenshot.replace(/\.png$/, "") + "-log.png";
  await page.screenshot({ path: logShot });
  await page.click("#log-close");

  step = "enter the admin token";
  await page.fill("#token", adminToken);
  await page.press("#token", "Enter");

  step = "add the repository";
  await page.fill("#repo-input", added);
  await page.click("#repo-add");
  await page.locator("#repo-list").getByText(added).waitFor();

  step = "trigger a collection";
  await page.click("#collect-now");

  step = "see the added repository's runs once the filter is cleared";
  await page.selectOption("#filter-repo", "");
  await page.locator("#runs-table tbody tr", { hasText: added }).first().waitFor();

  step = "take a screenshot of the dashboard";
  await page.waitForTimeout(500);
  await page.screenshot({ path: screenshot, fullPage: true });

  step = "finish without page errors";
  if (problems.length > 0) throw new Error(problems.join("; "));
  console.log(`dashboard ok: runs of ${configured} shown with failures red, filtered, log opened; ${added} added and collected; screenshots ${screenshot}, ${logShot}`);
} catch (error) {
  console.error(`dashboard test failed at step "${step}": ${error.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
