import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_SEED, formatFuzzReport, runFuzz } from './fuzz.js';

describe('fuzz (quick)', () => {
  it('answers 300 fuzzed signaling messages, the HTTP oddities, a dozen corrupt media files and broken bundles as documented', async () => {
    const report = await runFuzz({ seed: DEFAULT_SEED, quick: true });
    const table = formatFuzzReport(report);
    assert.equal(report.failures, 0, table);
    const bySection = Object.fromEntries(report.sections.map((s) => [s.section, s]));
    assert.ok(bySection.signaling!.cases >= 300, table);
    assert.ok(bySection.media!.cases >= 10, table);
    assert.ok(bySection.bundles!.cases >= 6, table);
    // Every broken bundle was refused with exit 3.
    assert.deepEqual(Object.keys(bySection.bundles!.outcomes), ['exit 3'], table);
  });
});
