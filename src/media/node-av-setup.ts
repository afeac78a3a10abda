/**
 * Shared node-av set-up, imported by every module that uses node-av: the Node 20
 * polyfills it needs, and FFmpeg's own logging limited to errors (encoders otherwise print
 * statistics such as AAC's "Qavg" to stderr).
 */
import '../polyfills.js';
import { AV_LOG_ERROR } from 'node-av/constants';
import { Log } from 'node-av/lib';

Log.setLevel(AV_LOG_ERROR);
