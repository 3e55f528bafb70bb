/** Registers every fast cpu kernel. Each op family file adds one import. */
