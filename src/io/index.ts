/** File IO (Node.js): `lip.io.saveModel`, `lip.io.loadModel`, `lip.io.fileSystem`. */
export { saveModel, loadModel, fileSystem, FileSystemHandler } from './file_system';
