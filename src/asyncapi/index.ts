export {
  type AsyncAPIDocument,
  type AsyncAPIOptions,
  type AsyncAPISource,
  type AsyncAPIValue,
  toAsyncAPI,
} from "./document.js";
