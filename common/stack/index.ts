export * from './convert.js';
export { InterpolationError, interpolate, parseDotEnv } from './interpolate.js';
export {
  type LoadedStack,
  loadStack,
  type StackFile,
  StackFileError,
  StackProblem,
  showPath,
} from './load.js';
