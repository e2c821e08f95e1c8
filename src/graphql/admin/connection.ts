import { connectionTypes } from '../connection.js';
import { adminBuilder } from './builder.js';

export const adminConnectionOf = connectionTypes(adminBuilder);
