import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PlayoutLatencyReports } from '../../src/server/PlayoutLatencyReports.js';

describe('PlayoutLatencyReports', () => {
  it('gives the largest latest report per listener, and null before any', () => {
    const reports = new PlayoutLatencyReports<string>(5000);
    assert.equal(reports.largestMs(0), null);
    reports.report('a', 120, 0);
    reports.report('b', 80, 100);
    assert.equal(reports.largestMs(200), 120);
    reports.report('a', 60, 300);
    assert.equal(reports.largestMs(400), 80, 'a listener counts with its latest report only');
    reports.remove('b');
    assert.equal(reports.largestMs(400), 60);
  });

  it('forgets a report 5 s after it was made, and says when the next one goes stale', () => {
    const reports = new PlayoutLatencyReports<string>(5000);
    reports.report('a', 200, 1000);
    reports.report('b', 90, 3000);
    assert.equal(reports.nextExpiryMs(), 6000);
    assert.equal(reports.largestMs(5999), 200);
    assert.equal(reports.largestMs(6000), 90);
    assert.equal(reports.nextExpiryMs(), 8000);
    assert.equal(reports.largestMs(8000), null);
    assert.equal(reports.nextExpiryMs(), null);
  });
});
