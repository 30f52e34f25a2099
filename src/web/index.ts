/**
 * The web shell of radcbir (`cbir serve`): a local HTTP server with a search page and, over a
 * finished report, a report browser. It imports the core only through src/workbench/index.ts.
 */
export { startServer, requestHandler, DEFAULT_MAX_UPLOAD, type ServeOptions, type SearchServer } from './server.js';
export { SearchService, requestFilter, imageAnswer, type SearchServiceOptions, type ImageAnswer } from './search.js';
export { ReportBrowser, type TsneMap } from './report.js';
export { WorkQueue, type QueueStats } from './queue.js';
export { HttpError, errorAnswer, readBody, formatBytes, type ErrorBody } from './http.js';
export { sniffImage, parseByteSize, BROWSER_TYPES, type ImageKind } from './sniff.js';
