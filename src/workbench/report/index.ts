/** The report contract: types, build, save/open, summary. */
export * from './types.js';
export { buildReport, datasetOf, toolVersion } from './build.js';
export { encodeReport, decodeReport } from './json.js';
export { renderSummary, figuresSection } from './summary.js';
export {
  saveReport,
  openReport,
  openReportManifest,
  addFigures,
  REPORT_FILE,
  type SaveSource,
  type SaveReportOptions,
} from './save.js';
