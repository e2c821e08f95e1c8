import { builder } from '../builder.js';
import { connectionTypes } from '../connection.js';

export const connectionOf = connectionTypes(builder);
